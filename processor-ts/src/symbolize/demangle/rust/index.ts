export { demangleRustLegacy, isRustLegacy } from './legacy.js';
export { demangleRustV0 } from './v0.js';
