/**
 * Baseline: Socket.IO broadcast. Clients connected with ?role=pub emit `pub`; the server
 * re-emits each as `m` to every other client with socket.broadcast (encoded once per broadcast
 * by the default adapter). WebSocket transport only.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, maxHttpBufferSize: 64 * 1024 });
io.on('connection', (socket) => {
  if (socket.handshake.query.role === 'pub') socket.on('pub', (data: unknown) => socket.broadcast.emit('m', data));
});
http.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
