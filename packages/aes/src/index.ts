export { decryptCommand } from './decrypt-command.js';
export { createDecryptStream, type DecryptStreamOptions, OPENSSL_ENC_DEFAULT_KDF } from './decrypt-stream.js';
export { aes, DEFAULT_CHUNK_SIZE, DEFAULT_OPENSSL_ITER, DEFAULT_SCRYPT } from './definition.js';
export { HEADER_BYTES, MAGIC } from './nexus-format.js';
export { MasterKeyCache } from './nexus-keys.js';
export { OPENSSL_DEFAULT_PBKDF2_ITER, type OpensslKdf, opensslDecryptCommand } from './openssl-keys.js';
