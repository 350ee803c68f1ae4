"""The masker (magnus_core.masking): the same output however a stream is cut, linear work, bounded memory,
and one function for every recorded value."""

from __future__ import annotations

import io
import sys
from collections import namedtuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magnus_core.masking import (
    MASK,
    MaskCollisionError,
    Patterns,
    StreamMasker,
    expand,
    fixed,
    mask_text,
)


def reference(text: str, secrets: list[str]) -> str:
    """Masking as specified, written the slow obvious way: every character inside any occurrence of any
    pattern is covered; each run of overlapping occurrences becomes one MASK."""
    patterns = expand(secrets)
    covered: list[tuple[int, int]] = []
    for p in patterns:
        start = text.find(p)
        while start != -1:
            covered.append((start, start + len(p)))
            start = text.find(p, start + 1)
    merged: list[list[int]] = []
    for start, end in sorted(covered):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [text[pos:start], MASK]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def feed_in_pieces(text, patterns: Patterns, cuts: list[int]):
    masker = StreamMasker(lambda: patterns, type(text))
    out, pos = [], 0
    for size in cuts:
        out.append(masker.feed(text[pos : pos + size]))
        assert masker.pending < max(patterns.longest, 1)  # never more than the longest pattern held back
        pos += size
    out.append(masker.feed(text[pos:]))
    out.append(masker.finish())
    return type(text)().join(out), masker


# Small alphabets make overlaps, repeats and near-misses common.
secret_st = st.text(alphabet="abc\n", min_size=4, max_size=9).filter(lambda s: len(s.strip()) >= 4)
text_st = st.text(alphabet="abc\n*", max_size=120)


@settings(max_examples=400, deadline=None)
@given(st.lists(secret_st, min_size=1, max_size=3), text_st, st.lists(st.integers(0, 9), max_size=40))
def test_streaming_equals_masking_the_whole_text_however_it_is_cut(secrets, text, cuts) -> None:
    patterns = Patterns.of(expand(secrets))
    expected = reference(text, secrets)
    assert mask_text(text, patterns) == expected
    streamed, _ = feed_in_pieces(text, patterns, cuts)
    assert streamed == expected
    as_bytes, _ = feed_in_pieces(text.encode(), patterns, cuts)
    assert as_bytes == expected.encode()


@settings(max_examples=100, deadline=None)
@given(st.lists(secret_st, min_size=1, max_size=3), text_st, st.lists(st.integers(0, 9), max_size=40))
def test_no_secret_survives_in_the_output(secrets, text, cuts) -> None:
    streamed, _ = feed_in_pieces(text, Patterns.of(expand(secrets)), cuts)
    for secret in secrets:
        for line in secret.splitlines():
            if len(line.strip()) >= 4:
                assert line.strip() not in streamed


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_the_work_is_linear_in_the_output_and_the_memory_bounded(piece: int) -> None:
    """No timing: the masker counts the characters it searches. Writing n characters in pieces of any
    size searches each once, plus at most the held-back tail per piece (the quadratic case of issue 17
    was a buffer searched again at every write)."""
    secrets = [f"secret-{i:02d}-value" for i in range(10)]
    patterns = Patterns.of(expand(secrets))
    n = 200_000
    text = ("." * 997 + "secret-0") * (n // 1005)  # near-misses everywhere, and no newline at all
    _, masker = feed_in_pieces(text, patterns, [piece] * (len(text) // piece))
    pieces = len(text) // piece + 2
    assert masker.scanned <= len(text) + pieces * patterns.longest
    assert masker.held < patterns.longest


def test_multi_line_secrets_are_masked_line_by_line_whatever_the_line_ends() -> None:
    key = "-----BEGIN KEY-----\nAAAAline-one\nBBBBline-two\n-----END KEY-----"
    patterns = Patterns.of(expand([key]))
    assert mask_text(key, patterns) == "\n".join([MASK] * 4)
    assert mask_text(key.replace("\n", "\r\n"), patterns) == "\r\n".join([MASK] * 4)
    assert mask_text("only BBBBline-two here", patterns) == f"only {MASK} here"
    assert mask_text(repr(key), patterns).count("line-") == 0  # printed as a repr: '\\n' escapes


def test_short_values_are_not_masked_and_escaped_forms_are() -> None:
    patterns = Patterns.of(expand(["abc", 'p/a+ss"W0rd']))
    assert mask_text("abc stays", patterns) == "abc stays"  # under 4 characters: ordinary text
    assert mask_text('json "p/a+ss\\"W0rd"', patterns) == f'json "{MASK}"'
    assert mask_text("url p%2Fa%2Bss%22W0rd", patterns) == f"url {MASK}"
    assert mask_text('lower p/a+ss"w0rd upper P/A+SS"W0RD', patterns) == f"lower {MASK} upper {MASK}"


def test_mask_value_walks_every_container_keys_and_bytes_included() -> None:
    masker = fixed(["tok-123456"])
    Pair = namedtuple("Pair", "user token")
    value = {
        "s": "user:tok-123456",
        "t": ("u", "tok-123456"),
        "b": b"tok-123456",
        "ba": bytearray(b"x tok-123456"),
        "set": {"tok-123456"},
        "nt": Pair("u", "tok-123456"),
        "tok-123456": 1,
        "TOK-123456-upper": 2,
        "n": [1, 2.5, None, True, {"deep": ["tok-123456"]}],
    }
    masked = masker.value(value)
    assert masked == {
        "s": f"user:{MASK}",
        "t": ("u", MASK),
        "b": MASK.encode(),
        "ba": bytearray(f"x {MASK}".encode()),
        "set": {MASK},
        "nt": Pair("u", MASK),
        MASK: 1,
        f"{MASK}-upper": 2,
        "n": [1, 2.5, None, True, {"deep": [MASK]}],
    }
    assert type(masked["nt"]) is Pair
    untouched = {"a": [1, "plain"], "b": ("x",)}
    assert masker.value(untouched) is untouched  # nothing changed: the same object, no copy


def test_keys_that_collide_once_masked_are_refused_naming_only_the_masked_key() -> None:
    masker = fixed(["tok-123456"])
    with pytest.raises(MaskCollisionError) as info:
        masker.value({"a-tok-123456": 1, "a-*****": 2}, where="parameters")
    assert "a-*****" in str(info.value) and "tok-123456" not in str(info.value)
    assert masker.value({"a-tok-123456": 1, "a-*****": 2}, strict=False) == {"a-*****": 2}


def test_masked_names_are_reported_for_parameters() -> None:
    masker = fixed(["analyst"])
    masked, names = masker.changed({"schema": "analyst_mart", "rows": 3, "analyst_key": 1})
    assert masked == {"schema": "*****_mart", "rows": 3, "*****_key": 1}
    assert names == ["schema", "*****_key"]


def test_an_object_whose_text_holds_a_secret_is_recorded_as_that_text_masked() -> None:
    class Conn:
        def __str__(self) -> str:
            return "Conn(password=tok-123456)"

    conn = Conn()
    assert fixed(["tok-123456"]).value({"c": conn}) == {"c": f"Conn(password={MASK})"}
    assert fixed(["other-value"]).value({"c": conn})["c"] is conn


def test_the_seam_masks_python_streams_bytes_and_logging(capsys) -> None:
    import logging

    from magnus_core import output

    target = io.StringIO()
    early = logging.StreamHandler(sys.stderr)  # made before the seam, on the stream as it was
    logger = logging.getLogger("test.masking.seam")
    logger.addHandler(early)
    logger.propagate = False
    try:
        with output.installed(), output.routed(fixed(["tok-123456"]), target):
            print("print tok-123456")
            sys.stdout.buffer.write(b"bytes tok-123456\n")
            sys.stdout.write("tok-1")
            sys.stdout.flush()  # a flush does not release what could still be the start of a secret
            sys.stdout.write("23456 split\n")
            logger.warning("log tok-123456")
    finally:
        logger.removeHandler(early)
    # both streams go to the run's destination; between two streams no order is promised (as python's)
    assert sorted(target.getvalue().splitlines()) == [
        "***** split",
        "bytes *****",
        "log *****",
        "print *****",
    ]
    assert early.stream is sys.stderr  # handed back its stream when the seam went
    with output.installed():
        logger.addHandler(early)
        try:
            import threading

            thread = threading.Thread(target=logger.warning, args=("thread tok-123456",))
            with output.routed(fixed(["tok-123456"]), target):  # a thread outside the route: default route
                thread.start()
                thread.join()
        finally:
            logger.removeHandler(early)
    assert "thread *****" in capsys.readouterr().err


def test_a_closed_destination_never_fails_the_writer() -> None:
    from magnus_core import output

    target = io.StringIO()
    with output.installed(), output.routed(fixed(["tok-123456"]), target):
        target.close()
        print("after the destination closed tok-123456")
        sys.stdout.flush()


def test_a_held_masker_keeps_its_patterns_for_its_thread_only() -> None:
    """Masker.held (a step's bookkeeping, issue 19): inside, the source is not asked again and the patterns
    of entry are used; another thread, and the same thread after the hold, see a secret added meanwhile."""
    import threading

    from magnus_core.masking import Masker

    values = ["alpha-secret"]
    asked: list[int] = []

    def source() -> tuple[int, list[str]]:
        asked.append(1)
        return len(values), list(values)

    masker = Masker(source)
    with masker.held():
        values.append("beta-secret")
        before = len(asked)
        assert masker.text("alpha-secret beta-secret") == f"{MASK} beta-secret"
        with masker.held():  # nested: the outer hold stays
            assert masker.value({"k": "beta-secret"}) == {"k": "beta-secret"}
        assert len(asked) == before  # not asked inside the hold
        seen: list[str] = []
        other = threading.Thread(target=lambda: seen.append(masker.text("beta-secret")))
        other.start()
        other.join()
        assert seen == [MASK]
    assert masker.text("alpha-secret beta-secret") == f"{MASK} {MASK}"


# -- the JSON search that spares the walk (masking.clean_json / clean_plain, stores.base._clean) ------------
# Secrets built from characters JSON escapes (quotes, backslashes, control characters) as well as plain ones,
# so that a value holding a secret's repr or JSON form, or the secret itself, is written escaped.
tricky_secret_st = st.text(alphabet='ab"\\\x01\té', min_size=4, max_size=8).filter(
    lambda s: len(s.strip()) >= 4
)
leaf_st = st.one_of(
    st.text(alphabet='ab"\\\x01\té*\n', max_size=30),
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.binary(max_size=12),  # (undecodable bytes too: the walk decides)
    st.frozensets(st.text(alphabet='ab"\\', max_size=8), max_size=3),
)
json_st = st.recursive(
    leaf_st,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(alphabet='ab"\\', max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(secrets=st.lists(tricky_secret_st, min_size=1, max_size=2), value=json_st, form=st.integers(0, 3))
def test_the_json_search_keeps_a_value_only_when_the_walk_would(secrets, value, form) -> None:
    """mask_value keeps a value as it is after one search of a JSON text of it (masking.clean), instead of
    walking it: never when the walk would change it, whatever JSON escapes in the secret and the value
    (containers, bytes, sets, pydantic models)."""
    import json

    from magnus_core.masking import _walk, mask_value

    patterns = Patterns.of(expand(secrets))
    secret = secrets[0]
    shown = [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], secret.upper()][form]
    from magnus_core.models.run_log import StepAttempt

    for candidate in (
        value,
        [value, f"x{shown}y"],
        {f"k{shown}": value},
        (value, shown.encode("utf-8", "surrogatepass")),
        StepAttempt(status="FAIL", message=f"no {shown}" if form else "ok", parameters={"v": value}),
    ):
        walked = _walk(candidate, patterns, None)
        masked = mask_value(candidate, patterns, strict=False)
        assert masked == walked
        if walked is not candidate:
            assert masked is not candidate


def test_a_store_keeps_a_step_log_without_a_secret_without_walking_it(monkeypatch) -> None:
    """A store masks every write of a run that has secrets (RunLogStore.mask_with): with a credential in the
    environment every run does. A step log that holds no secret is told so by one search of its JSON text
    (stores.base._clean), not by masking's walk of every object (~37 us a step; a run with a credential set
    was ~1.6x the CPU of one without, s6-teamsec). One holding a secret is still masked, in every form."""
    import magnus_core.masking as masking
    from magnus_core.models.run_log import (
        PROCESSING,
        SUCCESS,
        CodeIdentity,
        RunLog,
        StepAttempt,
        StepLog,
        now,
    )
    from magnus_core.stores.buffered import BufferedRunLogStore

    walked: list[object] = []
    real = masking._walk

    def counting(value, patterns, where):
        if not isinstance(value, (str, bytes)):  # (a text is one search either way)
            walked.append(value)
        return real(value, patterns, where)

    monkeypatch.setattr(masking, "_walk", counting)
    secret = 'pa"ss\\word-9'
    store = BufferedRunLogStore()
    store.create_run(
        RunLog(run_id="r", status=PROCESSING, run_config={"dag": {"x": 1}}), masker=fixed([secret])
    )

    def step(name: str, message: str, params: dict) -> StepLog:
        attempt = StepAttempt(start_time=now(), end_time=now(), status=SUCCESS, parameters=params)
        return StepLog(
            name=name,
            internal_name=name,
            status=SUCCESS,
            message=message,
            code_identities=[CodeIdentity(code_identifier="c0ffee")],
            attempts=[attempt],
            user_defined_metrics={"seen": 3},
            returned_parameters=params,
        )

    walked.clear()
    store.commit_step("r", step("a", "done", {"i": 1}), parameters={"i": 1, "who": "me"})
    store.update_run("r", parameters={"i": 2}, status=SUCCESS)
    assert walked == []  # nothing in them is a secret: kept after one search each, no walk
    for i, shown in enumerate((secret, repr(secret)[1:-1], secret.upper(), 'PA"SS\\WORD-9')):
        store.commit_step("r", step(f"b{i}", f"token {shown}!", {"p": [shown]}), parameters={"k": shown})
        kept = store.get_run("r")
        text = kept.model_dump_json()
        assert "*****" in kept.steps[f"b{i}"].message and "*****" in text
        for form in (secret, repr(secret)[1:-1], secret.upper()):
            assert form not in kept.steps[f"b{i}"].message
            assert form not in str(kept.steps[f"b{i}"].attempts[0].parameters) and form not in str(
                kept.parameters
            )
    assert walked  # those were walked (and masked)
