"""Addresses as residents type them: normalising text and geocoding against the registry."""
from gis.lazy import lazy_exports

_EXPORTS = {
    "Geocoder": "gis.address.geocode",
    "PinyinIndex": "gis.address.pinyin",
    "Registry": "gis.address.geocode",
    "cn_to_int": "gis.address.text",
    "estate_core": "gis.address.text",
    "load_geocoder": "gis.address.geocode",
    "normalize": "gis.address.text",
    "numbers": "gis.address.text",
    "parse_folds": "gis.address.pinyin",
    "parse_registry": "gis.address.text",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
