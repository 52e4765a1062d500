export { Gateway, type GatewayOptions } from './gateway.js';
export { loadConfig, ConfigError, envName, keyPaths, type LoadOptions } from './config/load.js';
export { ConfigSchema, type Config, type ConfigInput } from './config/schema.js';
export { ERRORS, ERROR_CODES, type ErrorCode } from './protocol/errors.js';
export { CLOSE, closeBand, type CloseName, type CloseBand } from './protocol/close-codes.js';
export { isValidChannel, CHANNEL_NAME } from './protocol/channel-name.js';
export type { SlowConsumerPolicy, ShedReason } from './flow/policy.js';
export type * from './transport/transport.js';
