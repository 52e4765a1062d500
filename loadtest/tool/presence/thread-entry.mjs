// Worker threads do not inherit a TypeScript loader from tsx: register it here, then load the thread's module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
