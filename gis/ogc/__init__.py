"""OGC API – Features (Part 1 Core, Part 2 CRS) and Tiles over the record: pure query and document building."""
