"""Importers for official boundaries, the address registry and service stations."""
from gis.importers.addresses import import_addresses
from gis.importers.areas import import_areas
from gis.importers.common import ImportRefused
from gis.importers.osm import import_osm
from gis.importers.stations import import_stations

__all__ = ["import_areas", "import_addresses", "import_stations", "import_osm", "ImportRefused"]
