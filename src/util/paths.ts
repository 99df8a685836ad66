import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The package root: this file is compiled to `dist/src/util/paths.js`. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const shadersDir = resolve(packageRoot, 'shaders');
export const defaultModelDir = resolve(packageRoot, 'weights', 'default');
