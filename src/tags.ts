/**
 * Tag lists (`/v2/<name>/tags/list`), passed through page by page and never cached: they
 * change with every push. A registry pages with `n`, `last` or an opaque token in its `Link`
 * header; the next page's link is rewritten to this edge's own path, keeping its query, so a
 * client never sees the upstream host.
 */
import { z } from 'zod';
import { fail } from './errors';
import { type Context, clientFor, type Repository } from './resolve';

/** One page of tags, and the query of the next page if there is one. */
export interface TagPage {
  tags: string[];
  next: URLSearchParams | null;
}

const tagList = z.object({ tags: z.array(z.string()).nullable().optional() });

// The paging parameters of the spec and of registries that add their own (Quay's next_page).
const PAGING = /^(n|last|next_page)$/;

/** The page of `repository`'s tags that `query` asks for. */
export async function listTags(
  ctx: Context,
  repository: Repository,
  query: URLSearchParams,
): Promise<TagPage> {
  const upstreamQuery = new URLSearchParams();
  for (const [key, value] of query) if (PAGING.test(key)) upstreamQuery.append(key, value);

  const { response } = await clientFor(ctx, repository).send({
    method: 'GET',
    kind: 'tags',
    reference: 'list',
    query: upstreamQuery,
    accept: 'application/json',
  });

  let body: z.infer<typeof tagList>;
  try {
    body = tagList.parse(await response.json());
  } catch {
    throw fail.unavailable(`registry ${repository.registry} sent a tag list that is not JSON`);
  }
  return { tags: body.tags ?? [], next: nextPage(response.headers.get('Link'), response.url) };
}

/** The query of the `rel="next"` link, resolved against the page's own URL. */
function nextPage(link: string | null, base: string): URLSearchParams | null {
  const target = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link ?? '')?.[1];
  if (target === undefined) return null;

  try {
    const next = new URL(target, base).searchParams;
    const kept = new URLSearchParams();
    for (const [key, value] of next) if (PAGING.test(key)) kept.append(key, value);
    return kept;
  } catch {
    return null;
  }
}
