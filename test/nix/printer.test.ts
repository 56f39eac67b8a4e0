import { describe, expect, it } from 'vitest';
import { isNixIdentifier, nix, printNix, type NixExpr } from '../../src/nix/printer';
import { nixInstantiateEval } from '../harness/nix';

const BLOBS = 'https://edge.example.invalid/v2/docker.io/library/busybox/blobs';

const layer = (name: string, hex: string, sha256: string) =>
  nix.apply(
    'fetchurl',
    nix.attrs({
      name: nix.string(name),
      url: nix.string(`${BLOBS}/sha256:${hex}`),
      sha256: nix.string(sha256),
    }),
  );

const EXPRESSION = nix.function(
  ['fetchurl'],
  nix.attrs({
    imageName: nix.string('docker.io/library/busybox'),
    imageTag: nix.optionalString(null),
    size: nix.int(2),
    offset: nix.int(-1),
    insecure: nix.bool(false),
    'dotted.name': nix.string('quoted key'),
    layers: nix.list([layer('layer-0.tar.gz', 'a3ed95', '1m26bfaj'), nix.int(-3), nix.list([])]),
    empty: nix.attrs({}),
  }),
);

const GOLDEN = `# docker.io/library/busybox:1.36 -> sha256:abc (linux/amd64)
# from https://edge.example.invalid
{ fetchurl }:
{
  imageName = "docker.io/library/busybox";
  imageTag = null;
  size = 2;
  offset = -1;
  insecure = false;
  "dotted.name" = "quoted key";
  layers = [
    (fetchurl {
      name = "layer-0.tar.gz";
      url = "https://edge.example.invalid/v2/docker.io/library/busybox/blobs/sha256:a3ed95";
      sha256 = "1m26bfaj";
    })
    (-3)
    [ ]
  ];
  empty = { };
}
`;

// Strings that would end a literal, interpolate, or change meaning if printed carelessly.
const HOSTILE: Record<string, string> = {
  quote: 'say "hi"',
  backslash: 'C:\\path\\',
  backslashQuote: '\\"',
  interpolation: '${builtins.abort "x"}',
  escapedInterpolation: '$${builtins.abort "x"}',
  dollarBackslash: '$\\${x}',
  lonelyDollars: '$ $$ a$ $',
  trailingDollar: 'end$',
  indentedStringQuotes: "''${x}'' '''",
  newlines: 'line 1\nline 2\r\nline 3\r',
  tab: 'a\tb',
  otherControls: '\u0001\u001b[31mred\u007f',
  unicode: 'é ☃ 😀 \u2028 \u00a0 漢字',
  comment: '# not a comment /* nor this */',
  closing: '"; evil = builtins.abort "x"; x = "',
  empty: '',
};

function parsed(expr: NixExpr): Promise<unknown> {
  return nixInstantiateEval(printNix(expr));
}

describe('printNix', () => {
  it('prints a representative expression exactly (golden)', () => {
    const header = ['docker.io/library/busybox:1.36 -> sha256:abc (linux/amd64)'];
    const got = printNix(EXPRESSION, { header: [...header, 'from https://edge.example.invalid'] });

    expect(got, `printNix(expression) =\n${got}\nwant\n${GOLDEN}`).toBe(GOLDEN);
  });

  it('prints an expression that Nix evaluates to the intended value', async () => {
    const got = await nixInstantiateEval(printNix(EXPRESSION), { args: { fetchurl: 'x: x' } });

    expect(got).toEqual({
      imageName: 'docker.io/library/busybox',
      imageTag: null,
      size: 2,
      offset: -1,
      insecure: false,
      'dotted.name': 'quoted key',
      layers: [
        {
          name: 'layer-0.tar.gz',
          url: 'https://edge.example.invalid/v2/docker.io/library/busybox/blobs/sha256:a3ed95',
          sha256: '1m26bfaj',
        },
        -3,
        [],
      ],
      empty: {},
    });
  });

  it('keeps hostile strings exact through nix-instantiate', async () => {
    const expr = nix.attrs(
      Object.fromEntries(Object.entries(HOSTILE).map(([k, v]) => [k, nix.string(v)])),
    );

    const got = await parsed(expr);
    expect(got, `nix-instantiate(printNix(hostile)) = ${JSON.stringify(got)}`).toEqual(HOSTILE);
  });

  it('keeps hostile strings exact inside lists and calls', async () => {
    const values = Object.values(HOSTILE);
    const expr = nix.function(
      ['f'],
      nix.list([nix.apply('f', nix.list(values.map(nix.string))), ...values.map(nix.string)]),
    );

    const got = await nixInstantiateEval(printNix(expr), { args: { f: 'x: x' } });
    expect(got).toEqual([values, ...values]);
  });

  it('keeps hostile attribute names exact and never lets them become code', async () => {
    const names = [...Object.values(HOSTILE), 'with', 'or', 'rec', '1abc', 'a-b', "a'", 'a.b'];
    const expr = nix.attrs(names.map((name, i) => [name, nix.int(i)] as const));

    const got = await parsed(expr);
    const want = Object.fromEntries(names.map((name, i) => [name, i]));
    expect(got, `nix-instantiate(printNix(names)) = ${JSON.stringify(got)}`).toEqual(want);
  });

  it('keeps header text inside comments', async () => {
    const header = [
      'plain',
      'newline\n{ evil = builtins.abort "x"; }\n#',
      'carriage return\r"; x = 1',
      'line separators \u2028 \u2029 \u0085 and NUL \0 and ESC \u001b[2J',
      '',
      '*/ /* ${x}',
    ];

    const text = printNix(nix.attrs({ ok: nix.bool(true) }), { header });
    const lines = text.split(/\r\n|\r|\n/);
    expect(lines.slice(0, header.length).every((line) => line.startsWith('#'))).toBe(true);
    expect(lines.slice(header.length)).toEqual(['{', '  ok = true;', '}', '']);
    expect(await nixInstantiateEval(text)).toEqual({ ok: true });
  });

  it.each<{ name: string; expr: NixExpr; error: RegExp }>([
    { name: 'NUL in a string', expr: nix.string('a\0b'), error: /NUL/ },
    { name: 'NUL in an attribute name', expr: nix.attrs({ 'a\0': nix.null }), error: /NUL/ },
    { name: 'an unpaired surrogate', expr: nix.string('\ud800x'), error: /well-formed/ },
    { name: 'a fraction', expr: nix.int(1.5), error: /not a safe integer/ },
    { name: 'an unsafe integer', expr: nix.int(2 ** 53), error: /not a safe integer/ },
    { name: 'NaN', expr: nix.int(Number.NaN), error: /not a safe integer/ },
    { name: 'a keyword variable', expr: nix.var('with'), error: /not a Nix variable/ },
    { name: 'a code variable', expr: nix.var('x; y'), error: /not a Nix variable/ },
    { name: 'an empty variable', expr: nix.var(''), error: /not a Nix variable/ },
    {
      name: 'a code function name',
      expr: nix.apply('builtins.abort', nix.null),
      error: /not a Nix function name/,
    },
    {
      name: 'a code formal',
      expr: nix.function(['a }: x: {'], nix.null),
      error: /not a Nix function argument/,
    },
    {
      name: 'a repeated function argument',
      expr: nix.function(['a', 'a'], nix.null),
      error: /argument repeats/,
    },
    {
      name: 'a repeated attribute',
      expr: nix.attrs([
        ['a', nix.null],
        ['a', nix.null],
      ]),
      error: /defined twice/,
    },
  ])('rejects $name', ({ expr, error }) => {
    expect(() => printNix(expr), 'printNix(x)').toThrow(error);
  });

  it.each([
    { name: 'fetchurl', want: true },
    { name: '_private', want: true },
    { name: "x'", want: true },
    { name: 'a-b', want: true },
    { name: 'in', want: false },
    { name: '1a', want: false },
    { name: 'a.b', want: false },
    { name: '', want: false },
  ])('isNixIdentifier($name) = $want', ({ name, want }) => {
    expect(isNixIdentifier(name), `isNixIdentifier(${name})`).toBe(want);
  });
});
