/**
 * `cluster-key-slot` (https://github.com/luin/cluster-key-slot), the hash-slot function ioredis
 * itself routes by, ships no types: a key's slot (0–16383), `{…}` hash tags honoured.
 */
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
