import { parentPort, workerData } from 'node:worker_threads';
import { WireClient } from '../../devkit/wire-client.js';

const { port, connections } = workerData as { port: number; connections: number };
let frames = 0;
const url = new URL(`ws://127.0.0.1:${port}`);
for (let i = 0; i < connections; i++) new WireClient({ onOpen() {}, onFrame: () => void frames++, onClose() {} }).connect(url, '/', 30_000);
setInterval(() => parentPort!.postMessage(frames), 20);
