/**
 * The least a worker can do to store a blob: `PUT /<key>` puts the request body, whose
 * Content-Length R2 needs, straight into R2. The benchmark compares the edge's memory
 * while it pulls a blob against this worker's while it stores one of the same size.
 */

/** The one binding, from wrangler.toml. */
interface Env {
  BUCKET: R2Bucket;
}

export default {
  async fetch(request, env): Promise<Response> {
    if (request.method !== 'PUT' || request.body === null) {
      return new Response('PUT /<key> with a body of known length\n', { status: 405 });
    }

    const key = new URL(request.url).pathname.slice(1) || 'blob';
    // put answers null only for a failed `onlyIf` condition, which this put does not set.
    const object = await env.BUCKET.put(key, request.body);

    return Response.json({ key, size: object?.size ?? null });
  },
} satisfies ExportedHandler<Env>;
