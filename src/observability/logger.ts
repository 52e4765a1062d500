import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/** The gateway's structured logger. Never called per message: connection, policy and health events only. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { name: 'sluice', level };
  return destination ? pino(options, destination) : pino(options);
}
