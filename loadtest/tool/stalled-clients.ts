import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Subscribers that stop reading at once, run in a small Python process so their receive buffers
 * can be capped (SO_RCVBUF; Node cannot set it): 100 paused loopback sockets autotuned to 32 MiB
 * each would push the kernel into global TCP memory pressure and throttle every socket on the
 * machine — the publisher included — which is an artefact of running clients beside the server.
 * Socket i sends `frames[i % frames.length]` (e.g. a `sub`) after its handshake, then never reads.
 * Kill the returned process to close them all.
 */
const STALLED_CLIENTS_PY = `
import base64, json, os, socket, sys
port, count, frames = int(sys.argv[1]), int(sys.argv[2]), [f.encode() for f in json.loads(sys.argv[3])]
socks = []
for i in range(count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
               "Sec-WebSocket-Key: " + key + "\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n").encode())
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        head += s.recv(1)
    frame = frames[i % len(frames)]
    mask = os.urandom(4)
    body = bytes(b ^ mask[j % 4] for j, b in enumerate(frame))
    s.sendall(bytes([0x81, 0x80 | len(body)]) + mask + body)
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
`;

export function stalledClients(port: number, count: number, frames: string[]): Promise<ChildProcess> {
  const child = spawn('python3', ['-c', STALLED_CLIENTS_PY, String(port), String(count), JSON.stringify(frames)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`stalled clients exited with ${code}`)));
  });
}
