/** volumes: the node's registry of volumes (the `volumes` and `epochs` tables), below every stage. */
export * from './epoch-history.ts';
export * from './registry.ts';
export * from './volume-table.ts';
