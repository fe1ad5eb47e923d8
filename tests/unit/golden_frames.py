"""Golden frames: bytes written by this version of the codec, checked in.

tests/unit/test_codec_golden.py decodes every frame to its value and, where the
bytes do not depend on a compression library's version, re-encodes it
byte for byte.  Never edit a frame to make a test pass: a change here is a
format change (docs/format.md) and old values must stay readable.
"""

# (name, value expression, codec options, compression, frame as hex)
# ruff: noqa: E501
GOLDEN: list[tuple[str, str, dict[str, object], object, str]] = [
    (
        "int",
        "12345",
        {},
        "auto",
        "3132333435",
    ),
    (
        "negative int",
        "-9223372036854775808",
        {},
        "auto",
        "2d39323233333732303336383534373735383038",
    ),
    (
        "big int",
        "2**70",
        {},
        "auto",
        "c110c7090a400000000000000000",
    ),
    (
        "raw bytes",
        "b'plain bytes pass through'",
        {},
        "auto",
        "706c61696e2062797465732070617373207468726f756768",
    ),
    (
        "bytes like an int",
        "b'123'",
        {},
        "auto",
        "c100313233",
    ),
    (
        "bytes with the magic",
        "b'\\xc1abc'",
        {},
        "auto",
        "c100c1616263",
    ),
    (
        "str",
        "'h\\u00e9llo'",
        {},
        "auto",
        "c10868c3a96c6c6f",
    ),
    (
        "none",
        "None",
        {},
        "auto",
        "c110c0",
    ),
    (
        "bool",
        "True",
        {},
        "auto",
        "c110c3",
    ),
    (
        "float",
        "1.5",
        {},
        "auto",
        "c110cb3ff8000000000000",
    ),
    (
        "list",
        "[1, 'two', 3.0, None, b'\\x00']",
        {},
        "auto",
        "c1109501a374776fcb4008000000000000c0c40100",
    ),
    (
        "rich types",
        "{'t': (1, 2), 's': {3}, 'f': frozenset({4}), 'd': datetime.date(2024, 1, 2), 'dt': datetime.datetime(2024, 1, 2, 3, 4, 5, 6), 'u': uuid.UUID(int=1), 'm': decimal.Decimal('1.10'), 'td': datetime.timedelta(days=1, seconds=2), 'tm': datetime.time(1, 2), 'c': complex(1, 2), 'b': 2**65}",
        {},
        "auto",
        (
            "c1108ba174c70309920102a173d5079103a166d5089104a164c70a02323032342d30312d3032a264"
            "74c71a01323032342d30312d30325430333a30343a30352e303030303036a175d805000000000000"
            "00000000000000000001a16dd606312e3130a27464d60493010200a2746dd70330313a30323a3030"
            "a163c7130b92cb3ff0000000000000cb4000000000000000a162c7090a020000000000000000"
        ),
    ),
    (
        "session zstd-dict",
        "DICT_SAMPLES[0]",
        {"dictionary": 1},
        "auto",
        (
            "c113a20201000005030013c50f3588840d15d704109d164c99545e30959832a50ad0131d018b8903"
            "1f7630c76441a3ef1be79031dae34fea29e669c58ddd9cf34a05bba5b6b1192b5ede75f60bfc4092"
            "cee3609fea51222f7a86ade55e9b6361e8cbf9f0b91495122701"
        ),
    ),
    (
        "text zstd",
        "b'the quick brown fox jumps over the lazy dog ' * 20",
        {},
        "zstd",
        (
            "c102f0060000b50100b40274686520717569636b2062726f776e20666f78206a756d7073206f7665"
            "7220746865206c617a7920646f6702003d9f2a30686719"
        ),
    ),
    (
        "text lz4",
        "b'the quick brown fox jumps over the lazy dog ' * 20",
        {},
        "lz4",
        (
            "c101f006f01074686520717569636b2062726f776e20666f78206a756d7073206f766572201f0081"
            "6c617a7920646f670d000f2c00ffffff2b5020646f6720"
        ),
    ),
    (
        "text lz4 hc",
        "b'the quick brown fox jumps over the lazy dog ' * 20",
        {},
        "lz4:9",
        (
            "c101f006f01074686520717569636b2062726f776e20666f78206a756d7073206f766572201f009f"
            "6c617a7920646f67202c00ffffff2f5020646f6720"
        ),
    ),
    (
        "text brotli",
        "b'the quick brown fox jumps over the lazy dog ' * 20",
        {},
        "brotli",
        (
            "c104f0061b6f030004a26d98eae5aaf82a325ec6cc5124eaadaccc8cc219b15d4fc5eb25add206ba"
            "a543ee2f9bff701af0"
        ),
    ),
    (
        "text zlib",
        "b'the quick brown fox jumps over the lazy dog ' * 20",
        {},
        "zlib",
        (
            "c105f006789c2bc94855282ccd4cce56482aca2fcf5348cbaf50c82acd2d2856c82f4b2d5228014a"
            "e72456552aa4e4a78339a36a47d58eaa255f2d00aa6a4204"
        ),
    ),
    (
        "text gzip",
        "b'the quick brown fox jumps over the lazy dog ' * 20",
        {},
        "gzip",
        (
            "c106f0061f8b08000000000000032bc94855282ccd4cce56482aca2fcf5348cbaf50c82acd2d2856"
            "c82f4b2d5228014ae72456552aa4e4a78339a36a47d58eaa255f2d00bc7d25bb70030000"
        ),
    ),
    (
        "checksum",
        "{'a': 'b' * 50}",
        {"checksum": True},
        None,
        (
            "c150014979842781a161d93262626262626262626262626262626262626262626262626262626262"
            "62626262626262626262626262626262626262626262"
        ),
    ),
    (
        "checksum zstd",
        "{'a': 'b' * 50}",
        {"checksum": True},
        "zstd",
        "c15201374979842700006500003081a161d93262010046a008",
    ),
    (
        "signed",
        "{'a': 1}",
        {"signing_key": "KEY", "sign_all": True},
        None,
        "c150029a3eb72a3acbe0c75e3cdf8bd3d928f09aa207e54e2dbe21c903db760880cc3d81a16101",
    ),
    (
        "pickle",
        "{'a': (1, 2)}",
        {"serializer": "pickle", "signing_key": "KEY"},
        None,
        (
            "c1680281425703f088009fb7def0a63cea8de87d8e9d62a9b8a0cfa2e8c6eb73553fb18005950e00"
            "0000000000007d948c0161944b014b028694732e"
        ),
    ),
    (
        "json",
        "{'a': [1, 2, {'b': None}]}",
        {"serializer": "json"},
        None,
        "c1187b2261223a5b312c322c7b2262223a6e756c6c7d5d7d",
    ),
    (
        "numpy",
        "numpy.arange(6, dtype='<i4').reshape(2, 3)",
        {},
        None,
        "c120033c6934020203000000000100000002000000030000000400000005000000",
    ),
]
