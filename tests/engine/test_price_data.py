"""genai-prices prepares, at import, what only a price update fetched from the network uses:
a pydantic validator (about 8 MB) and its own HTTP client library. ``pricing.load_price_data``
imports it with both deferred to their first use; every price must come out exactly as with
the ordinary import. Each
case runs in a child process so that genai-prices and pydantic are imported fresh."""

from __future__ import annotations

from tests.child_process import driver_findings

DRIVER = r"""
import json, sys
if "--window" in sys.argv:  # as in the window: PySide6's import hook looks at every new module
    from desktop.ui.qtcompat import read_sources_lightly
    read_sources_lightly()
import pydantic
adapter = pydantic.TypeAdapter
if sys.argv[1] == "plain":
    import genai_prices as gp
else:
    from desktop.engine.pricing import load_price_data
    gp = load_price_data()
from genai_prices import types
from pydantic._internal._mock_val_ser import MockValSer
mapping = types._model_price_mapping_schema
deferred = isinstance(vars(mapping).get("validator"), MockValSer)
prices = {}
for model, provider, tin, tout in [("gpt-4o", "openai", 1200, 800), ("claude-sonnet-4-5", "anthropic", 250000, 4000),
                                   ("gemini-2.5-pro", "google", 300000, 10), ("gpt-4o-mini", None, 5, 7)]:
    calc = gp.calc_price(gp.Usage(input_tokens=tin, output_tokens=tout), model_ref=model, provider_id=provider)
    prices[model] = str(calc.total_price)
client_loaded = "httpx2._client" in sys.modules  # httpx2 has run its imports
print(json.dumps({
    "deferred": deferred,
    "client_loaded": client_loaded,
    "client_on_use": sys.modules["httpx2"].Timeout(5).connect == 5 and "httpx2._client" in sys.modules,
    "prices": prices,
    "update_still_parses": str(mapping.validate_python({"input_mtok": "2.5"})["input_mtok"]),
    "adapter_restored": pydantic.TypeAdapter is adapter,
}))
"""


def run_driver(mode: str, *flags: str) -> dict:
    """The driver's findings; ``--window`` imports the way the window does (needs PySide6)."""
    return driver_findings(DRIVER, mode, *flags)


def test_price_data_loads_without_the_update_validator_and_prices_the_same():
    plain = run_driver("plain")
    assert not plain["deferred"] and plain["client_loaded"]  # what load_price_data is for
    light = run_driver("light")
    assert light["deferred"] and not light["client_loaded"]
    assert light["client_on_use"]
    assert light["prices"] == plain["prices"]
    assert len(set(light["prices"].values())) == 4  # four different, real prices (tiers included)
    assert light["update_still_parses"] == "2.5"  # built when first used
    assert light["adapter_restored"]



def test_a_type_that_refuses_a_config_gets_its_adapter_as_asked():
    """pydantic refuses a config for a model that has its own; the deferral steps aside."""
    import pydantic
    from pydantic._internal._mock_val_ser import MockValSer

    from desktop.engine.pricing import _deferring

    class Row(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(str_strip_whitespace=True)
        name: str

    make = _deferring(pydantic.TypeAdapter)
    mapping = make(dict[str, int])
    assert isinstance(vars(mapping).get("validator"), MockValSer)  # deferred
    assert mapping.validate_python({"a": "1"}) == {"a": 1}
    assert make(Row).validate_python({"name": " x "}).name == "x"  # made as asked, not refused
