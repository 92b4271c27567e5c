import { Global, Logger, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { resolveSecretKey } from './secret-key';
import { Sealer } from './sealing';

/**
 * The application's Sealer, under SECRET_KEY: main.ts resolved (or generated) the key and checked it against the
 * database before the app was built, so this resolves the same value (from the environment or DATA_DIR/secret-key).
 */
@Global()
@Module({
  providers: [
    {
      provide: Sealer,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Sealer => {
        const logger = new Logger('Keys');
        // resolveSecretKey logs pino-style (fields, message): only where a generated key went, never the key.
        const log = {
          info: (fields: object, message: string) => logger.log(`${message} ${JSON.stringify(fields)}`),
          warn: (fields: object, message: string) => logger.warn(`${message} ${JSON.stringify(fields)}`),
        } as unknown as Parameters<typeof resolveSecretKey>[1];
        return new Sealer(resolveSecretKey(config, log));
      },
    },
  ],
  exports: [Sealer],
})
export class KeysModule {}
