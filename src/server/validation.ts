/**
 * Request validation: bodies are taken as sent (no type coercion: "5" is not 5, a string is not
 * an array); path and query parameters, which arrive as strings, are coerced to their types.
 * Unknown fields are errors everywhere.
 */
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const common: Options = { removeAdditional: false, useDefaults: true, allErrors: true, strict: false };
const bodies = addFormats(new Ajv({ ...common, coerceTypes: false }));
const parameters = addFormats(new Ajv({ ...common, coerceTypes: 'array' }));

/** What Fastify reads from a validator: Ajv's `schemaEnv` (then it passes the parent, so a root default or coercion sticks) and `errors`. */
type Validator = ((data: unknown, ctx?: Parameters<ValidateFunction>[1]) => boolean) & { errors?: unknown; schemaEnv?: unknown };

/**
 * Fastify's validator compiler with the two policies above. Each schema is compiled on its route's
 * first request, not at start-up: compiling every route's schemas took about 0.4 s of each start.
 * `eager` compiles at once instead (tests: a bad schema fails while the app starts).
 */
export const validatorCompilerFor =
  (eager: boolean): FastifySchemaCompiler<unknown> =>
  ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? bodies : parameters;
    if (eager) return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
    let compiled: ValidateFunction | undefined;
    const validate: Validator = (data, ctx) => {
      compiled ??= ajv.compile(schema as object);
      // the parent Fastify gives (because of schemaEnv below) goes through to Ajv as it would to a compiled validator
      const valid = compiled(data, ctx);
      // Fastify reads the errors from the function it was given
      validate.errors = compiled.errors;
      return valid;
    };
    // Fastify passes the parent data only to a validator with a schemaEnv, which every Ajv validator has
    validate.schemaEnv = true;
    return validate as ReturnType<FastifySchemaCompiler<unknown>>;
  };

/** The validator compiler the daemon uses: each schema compiled on its route's first request. */
export const validatorCompiler = validatorCompilerFor(false);
