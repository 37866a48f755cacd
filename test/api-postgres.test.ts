import { apiSuite } from './api-suite.ts';
import { postgresUrl } from './daemon-harness.ts';

apiSuite('postgres', postgresUrl ? undefined : 'HOODY_TEST_POSTGRES_URL is not set (.ci/run sets it)');
