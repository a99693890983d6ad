"""Every panoray error crosses a Ray call (a pickle round trip) with its type, message and
fields: one that did not arrived as Ray's ``UnserializableException``, its path lost (a
sink's disk-full error, found by an exploratory test of the output side)."""

import inspect
import pickle

import pytest

import pipeline.errors as errors

ERRORS = [cls for cls in vars(errors).values()
          if inspect.isclass(cls) and issubclass(cls, errors.PanorayError)]


def _sample_args(cls: type) -> list:
    """A value per required parameter of ``cls``: a list where it takes several, an int
    where it takes a number, else a string."""
    out: list = []
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        kind = str(p.annotation)
        if any(k in kind for k in ("Iterable", "Sequence", "list")):
            out.append([f"{p.name}-item"])
        elif "int" in kind and "str" not in kind:
            out.append(7)
        else:
            out.append(f"{p.name}-value")
    return out


def _fields(exc: BaseException) -> dict:
    return {k: v for k, v in vars(exc).items() if not k.startswith("_")}


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_survives_a_pickle_round_trip(cls):
    exc = cls(*_sample_args(cls))
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is cls
    assert str(back) == str(exc)
    assert _fields(back) == _fields(exc)


def test_there_are_errors_with_fields_to_check():
    assert len(ERRORS) > 20 and errors.SinkError in ERRORS
    back = pickle.loads(pickle.dumps(errors.SinkError("could not write", "/out/events")))
    assert back.path == "/out/events" and str(back) == "could not write: /out/events"
