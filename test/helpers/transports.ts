export type TransportName = 'ws' | 'uws';

/** Every transport the end-to-end suites run against. */
export const TRANSPORTS: readonly TransportName[] = ['ws', 'uws'];
