/**
 * pg_identify_object names an aggregate without arguments `name()`, but COMMENT ON AGGREGATE and
 * ALTER AGGREGATE only take `name(*)` for it (`count(*)`-like aggregates).
 */
export function aggregateSignature(objectIdentity: string): string {
  return objectIdentity.endsWith('()') ? `${objectIdentity.slice(0, -2)}(*)` : objectIdentity;
}
