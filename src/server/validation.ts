/**
 * Request validation: bodies are taken as sent (no type coercion: "5" is not 5, a string is not
 * an array); path and query parameters, which arrive as strings, are coerced to their types.
 * Unknown fields are errors everywhere.
 */
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const common: Options = { removeAdditional: false, useDefaults: true, allErrors: true, strict: false };
const bodies = addFormats(new Ajv({ ...common, coerceTypes: false }));
const parameters = addFormats(new Ajv({ ...common, coerceTypes: 'array' }));

/** Fastify's validator compiler with the two policies above. */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodies : parameters).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
