/** store: chunking, hashing, compression, packs, and the catalog (node:sqlite): its schema, its meta values, the change row. */
export { type Catalog, inTransaction, openCatalog } from './catalog.ts';
export * from './change-row.ts';
export * from './chunk-references.ts';
export * from './chunk-store.ts';
export * from './chunker.ts';
export * from './compress.ts';
export * from './hash.ts';
export * from './ingest.ts';
export * from './meta.ts';
export {
  DEFAULT_PACK_BYTES,
  PACK_MAGIC,
  packFileName,
  RECORD_HEADER_BYTES,
  ReadWindow,
} from './pack-file.ts';
export { DEFAULT_WRITE_BUFFER_BYTES, PackStore, type PackStoreOptions, PIN_MS } from './pack-store.ts';
export { MIGRATIONS } from './schema.ts';
export * from './store-events.ts';
