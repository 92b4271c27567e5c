import { Module } from '@nestjs/common';
import { TOKEN_COMMAND_HANDLERS } from './token.commands';
import { ListTokensHandler, RetrieveTokenHandler } from './token.queries';
import { TokenKeyCopySweep } from './token-key-sweep';
import { TokenReader } from './token-reader';
import { TokensController } from './tokens.controller';

/** /api/v3/core/tokens/ (issue 13). */
@Module({
  controllers: [TokensController],
  providers: [
    TokenReader,
    ListTokensHandler,
    RetrieveTokenHandler,
    ...TOKEN_COMMAND_HANDLERS,
    TokenKeyCopySweep,
  ],
})
export class TokensModule {}
