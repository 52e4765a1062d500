// Worker threads do not inherit a TypeScript loader from vitest or tsx: register tsx here, then load the worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
