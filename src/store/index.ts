/** store: chunking, hashing, compression, packs, and the catalog (node:sqlite) schema. */
export { type Catalog, inTransaction, openCatalog } from './catalog.ts';
export * from './chunk-store.ts';
export * from './chunker.ts';
export * from './compress.ts';
export * from './hash.ts';
export * from './ingest.ts';
export { DEFAULT_PACK_BYTES, PACK_MAGIC, packFileName, RECORD_HEADER_BYTES } from './pack-file.ts';
export { DEFAULT_WRITE_BUFFER_BYTES, PackStore, type PackStoreOptions, PIN_MS } from './pack-store.ts';
export { MIGRATIONS } from './schema.ts';
