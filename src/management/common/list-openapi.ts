import { ApiQuery } from '@nestjs/swagger';

/*
 * authentik's list parameters, as its schema words them, for the management controllers. Swagger lists a method's
 * decorators bottom-up, so each controller places these among its filters to give authentik's parameter order.
 */

export const SearchQuery = (): MethodDecorator =>
  ApiQuery({ name: 'search', required: false, type: String, description: 'A search term.' });

export const PageSizeQuery = (): MethodDecorator =>
  ApiQuery({
    name: 'page_size',
    required: false,
    type: 'integer',
    description: 'Number of results to return per page.',
  });

export const PageQuery = (): MethodDecorator =>
  ApiQuery({
    name: 'page',
    required: false,
    type: 'integer',
    description: 'A page number within the paginated result set.',
  });

export const OrderingQuery = (): MethodDecorator =>
  ApiQuery({
    name: 'ordering',
    required: false,
    type: String,
    description: 'Which field to use when ordering the results.',
  });
