import type { ValueTransformer } from 'typeorm';

/** PostgreSQL returns bigint as a string; the registry keeps epoch milliseconds and byte counts as numbers. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? value : Number(value)),
};
