// The clients of uws-flush-cost.ts, on their own thread: they count frames and report the count.
import { register } from 'tsx/esm/api';

register();
await import('./uws-flush-cost-clients.ts');
