/**
 * The HTTP seam: plain requests, streaming responses and upgrade decisions on the gateway's port,
 * as the transport adapters hand them to the core (health, metrics, dashboard, publish API, auth).
 */

export interface UpgradeRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly remoteAddress: string;
}

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly remoteAddress: string;
  /**
   * Reads the request body (empty when there is none); undefined when it is larger than
   * `TransportOptions.maxHttpBodyBytes` (answer 413) or the client went away. Nothing of a body is
   * read unless this is called, so call it only once the request is routed and authenticated, and
   * during `onHttp` before its first await (a transport may discard body bytes nobody asked for).
   * A request whose body was not read is answered with `Connection: close`.
   */
  readBody(): Promise<Buffer | undefined>;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: string | Buffer;
  /**
   * Makes this a streaming response (server-sent events): the transport sends status, headers and
   * `body`, keeps the response open and hands it to `stream`, which returns the handler of its end.
   * Without it the response is complete once `body` is sent.
   */
  readonly stream?: (out: HttpStream) => HttpStreamHandler;
}

/** An open streaming HTTP response. Writes are never queued by the core beyond what this reports. */
export interface HttpStream {
  /** Writes a chunk at once; returns false when the peer is not reading (skip rather than pile up). */
  write(chunk: string): boolean;
  /** Bytes written but not yet handed to the kernel. */
  bufferedAmount(): number;
  /** Ends the response; `onClose` follows. */
  end(): void;
}

export interface HttpStreamHandler {
  /** Called exactly once when the response is over, whoever ended it (peer gone, end(), server closing). */
  onClose(): void;
}

export type UpgradeDecision =
  | {
      accept: true;
      /** Handed back, untouched, to `onConnection` (e.g. the verified identity). */
      context?: unknown;
      /** The subprotocol to select in the handshake; default: the first one offered. */
      protocol?: string;
    }
  | { accept: false; status: number; headers?: Record<string, string>; body: string };
