export { credentials } from './credentials-source.js';
export { files } from './files-source.js';
