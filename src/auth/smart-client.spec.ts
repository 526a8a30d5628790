import { exportJWK, generateKeyPair } from 'jose';
import { EndpointAllowlist } from '../notifications/endpoint-safety.js';
import { checkPublicJwks, parseClientsFile, validateClientRegistration } from './smart-client.js';

const none = new EndpointAllowlist([]);

describe('validateClientRegistration', () => {
  let jwks: { keys: object[] };
  beforeAll(async () => {
    const { publicKey } = await generateKeyPair('ES384', { extractable: true });
    jwks = { keys: [await exportJWK(publicKey)] };
  });
  const good = () => ({ client_id: 'gp-system', organization: 'RTG', scope: 'system/DocumentReference.rs', jwks });

  it('accepts a client with inline public keys, naming it by its id when it has no name', () => {
    expect(validateClientRegistration(good(), none)).toEqual({
      clientId: 'gp-system',
      name: 'gp-system',
      organization: 'RTG',
      scopes: 'system/DocumentReference.rs',
      jwks,
    });
  });

  it('accepts an https jwks_uri, and an http one only on an allow-listed host', () => {
    const base = { ...good(), jwks: undefined };
    expect(validateClientRegistration({ ...base, jwks_uri: 'https://keys.example/jwks.json' }, none).jwksUri).toBe(
      'https://keys.example/jwks.json',
    );
    expect(() => validateClientRegistration({ ...base, jwks_uri: 'http://127.0.0.1:9/jwks' }, none)).toThrow(
      'jwks_uri must use https (got http)',
    );
    const local = new EndpointAllowlist(['127.0.0.1']);
    expect(validateClientRegistration({ ...base, jwks_uri: 'http://127.0.0.1:9/jwks' }, local).jwksUri).toBe(
      'http://127.0.0.1:9/jwks',
    );
  });

  it.each([
    ['no client_id', { client_id: '' }, /client_id must be/],
    ['a client_id with spaces', { client_id: 'a b' }, /client_id must be/],
    ['an organization that is no ODS code', { organization: 'R T G' }, /organization must be an ODS code/],
    ['no scope', { scope: ' ' }, /scope must list/],
    ['a scope this server does not understand', { scope: 'system/DocumentReference.rs launch' }, /"launch"/],
    ['both jwks and jwks_uri', { jwks_uri: 'https://keys.example/jwks.json' }, /exactly one of jwks/],
    ['neither jwks nor jwks_uri', { jwks: undefined }, /exactly one of jwks/],
    ['a jwks_uri with credentials', { jwks: undefined, jwks_uri: 'https://u:p@keys.example/' }, /credentials/],
  ])('refuses %s', (_label, change, message) => {
    expect(() => validateClientRegistration({ ...good(), ...change }, none)).toThrow(message);
  });
});

describe('checkPublicJwks', () => {
  it('refuses private keys, symmetric keys, other curves and other algorithms', async () => {
    const es384 = await generateKeyPair('ES384', { extractable: true });
    const es256 = await generateKeyPair('ES256', { extractable: true });
    const rsa = await generateKeyPair('RS384', { extractable: true });
    const [es384Private, es256Public, rsaPublic] = await Promise.all([
      exportJWK(es384.privateKey),
      exportJWK(es256.publicKey),
      exportJWK(rsa.publicKey),
    ]);
    expect(() => checkPublicJwks({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AA' }] })).toThrow(
      /RSA key .* or an EC P-384/,
    );
    expect(() => checkPublicJwks({ keys: [] })).toThrow(/must be a JWK Set/);
    expect(() => checkPublicJwks({ keys: [es384Private] })).toThrow(/private key material \("d"\)/);
    expect(() => checkPublicJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).toThrow(/private key material \("k"\)/);
    expect(() => checkPublicJwks({ keys: [es256Public] })).toThrow(/EC P-384/);
    expect(() => checkPublicJwks({ keys: [{ ...rsaPublic, alg: 'RS256' }] })).toThrow(/says alg RS256/);
    expect(checkPublicJwks({ keys: [rsaPublic] }).keys).toHaveLength(1);
  });
});

describe('parseClientsFile', () => {
  const client = (id: string) => ({
    client_id: id,
    organization: 'RTG',
    scope: 'system/*.rs',
    jwks_uri: 'https://keys.example/jwks.json',
  });

  it('reads {"clients": [...]} and a bare array', () => {
    expect(parseClientsFile(JSON.stringify({ clients: [client('a')] }), none).map((c) => c.clientId)).toEqual(['a']);
    expect(parseClientsFile(JSON.stringify([client('a'), client('b')]), none)).toHaveLength(2);
  });

  it('names the entry that is wrong', () => {
    expect(() => parseClientsFile(JSON.stringify([client('a'), { ...client('b'), organization: '' }]), none)).toThrow(
      'clients[1]: organization must be an ODS code (3 to 10 letters and digits)',
    );
    expect(() => parseClientsFile(JSON.stringify([client('a'), client('a')]), none)).toThrow(
      'clients[1]: client_id a appears twice',
    );
    expect(() => parseClientsFile('{', none)).toThrow(/is not valid JSON/);
    expect(() => parseClientsFile('{"client": []}', none)).toThrow(/must hold/);
  });
});
