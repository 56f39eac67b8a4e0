import { describe, expect, it } from 'vitest';
import { budgetTooSmall, SubrequestBudget } from '../src/budget';
import { EdgeError } from '../src/errors';

describe('SubrequestBudget', () => {
  it('counts what is spent and lets exactly the limit through', () => {
    const budget = new SubrequestBudget(3);
    budget.spend('a');
    budget.spend('b');
    budget.spend('c');

    expect([budget.used, budget.remaining]).toEqual([3, 0]);
    expect(() => budget.spend('the fourth call')).toThrow(EdgeError);
    expect(budget.used).toBe(3);
  });

  it('refuses past the limit with a 503 asking for a retry, once something was stored', () => {
    const budget = new SubrequestBudget(2);
    budget.spend('a KV read');
    budget.spend('an R2 write', true);

    const error = catchEdgeError(() => budget.spend('an R2 read'));
    expect(error.status).toBe(503);
    expect(error.headers).toEqual({ 'Retry-After': '1' });
    expect(error.toBody()).toEqual({
      errors: [
        {
          code: 'UNAVAILABLE',
          message:
            'this request needs more than the 2 subrequests one invocation may make ' +
            '(SUBREQUEST_LIMIT); it stopped before an R2 read and kept what it had done: retry',
          detail: { subrequestLimit: 2 },
        },
      ],
    });
  });

  it('asks for no retry when the request stored nothing: a retry would stop there again', () => {
    const budget = new SubrequestBudget(2);
    budget.spend('a KV read');
    budget.spend('an R2 read');

    const error = catchEdgeError(() => budget.spend('a KV read'));
    expect(error.status).toBe(503);
    expect(error.headers).toEqual({});
    expect(error.message).toBe(
      'this request needs more than the 2 subrequests one invocation may make ' +
        '(SUBREQUEST_LIMIT); it stopped before a KV read having stored nothing a retry could ' +
        'reuse, so a retry would stop there too: raise it (and [limits] subrequests) if your ' +
        'plan allows',
    );
  });

  it('requires room without spending it', () => {
    const budget = new SubrequestBudget(10);
    budget.spend('a', true);

    expect(() => budget.require(9, 'nine more')).not.toThrow();
    expect(catchEdgeError(() => budget.require(10, 'ten more')).message).toMatch(
      /stopped before ten more/,
    );
    expect(budget.used).toBe(1);
  });

  it('says when no retry can help, without Retry-After', () => {
    const error = budgetTooSmall(50, 61, 'an archive of 18 layers');

    expect(error.status).toBe(503);
    expect(error.headers).toEqual({});
    expect(error.message).toBe(
      'an archive of 18 layers needs at least 61 subrequests in one invocation, more than ' +
        'SUBREQUEST_LIMIT=50; raise it (and [limits] subrequests) if your plan allows',
    );
  });
});

function catchEdgeError(action: () => void): EdgeError {
  try {
    action();
  } catch (error) {
    if (error instanceof EdgeError) return error;
    throw error;
  }
  throw new Error('expected an EdgeError');
}
