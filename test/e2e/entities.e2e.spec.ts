import { DataSource } from 'typeorm';
import { ENTITIES } from '../../src/entities.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

describe('entity registration', () => {
  let t: TestApp;
  beforeAll(async () => {
    // every role imports the same modules; without the worker no queue consumer starts only to be closed at once
    t = await startTestApp('sqlite', 'file', { APP_ROLES: 'api' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('gives the server (modules, autoLoadEntities) exactly the entities the migrations are generated from', () => {
    const name = (target: unknown) => (target as { name: string }).name;
    const registered = t.app.get(DataSource).entityMetadatas.map((m) => name(m.target));
    expect(registered.sort()).toEqual(ENTITIES.map(name).sort());
  });
});
