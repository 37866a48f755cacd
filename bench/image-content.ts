/** The content store the image benches use (the test one until the product's store is built in). */
import type { IdRange } from '../src/runtime/id-range.ts';
import type { ContentStore } from '../src/images/types.ts';
import { openTestContentStore } from '../test/image-content-store.ts';

/** A content store under `root` whose layer files are owned in `ids`. */
export function openBenchContentStore(root: string, ids: IdRange): Promise<ContentStore> {
  return openTestContentStore(root, ids);
}
