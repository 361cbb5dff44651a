"""The whole-record check: in one generation, every child's code begins with its parent's, every parent
exists (at the right level and tier), and no assignment or open request points at an area the
generation does not hold. `wangge check` prints what it finds; an empty list is a sound record."""
from __future__ import annotations

from sqlalchemy import text

from gis.store.generations import GenerationNotFound
from gis.store.queries import OPEN_SQL

SAMPLE = 20  # codes listed per finding; the count is always whole

CHECKS = {
    "code_prefix": ("child codes that do not begin with their parent's code", """
        SELECT c.level || ' ' || c.code || ' (parent ' || c.parent_code || ')' FROM generation_area c
        WHERE c.generation_id = :g AND c.parent_code IS NOT NULL
          AND left(c.code, length(c.parent_code)) <> c.parent_code"""),
    "missing_parent": ("areas whose parent the generation does not hold", """
        SELECT c.level || ' ' || c.code || ' (parent ' || coalesce(c.parent_level || ' ' || c.parent_code, 'none')
               || ')' FROM generation_area c
        WHERE c.generation_id = :g AND c.level <> 'district' AND NOT EXISTS (
            SELECT 1 FROM generation_area p WHERE p.generation_id = c.generation_id
              AND p.level = c.parent_level AND p.code = c.parent_code)"""),
    "parent_level": ("areas hanging under the wrong level or tier", """
        SELECT c.level || ' ' || c.code || ' under ' || p.level || ' ' || p.code FROM generation_area c
        JOIN generation_area p ON p.generation_id = c.generation_id AND p.level = c.parent_level
                              AND p.code = c.parent_code
        WHERE c.generation_id = :g AND NOT (
            (c.level = 'street' AND p.level = 'district') OR (c.level = 'community' AND p.level = 'street')
            OR (c.level = 'grid' AND c.tier = 1 AND p.level = 'community')
            OR (c.level = 'grid' AND c.tier > 1 AND p.level = 'grid' AND p.tier = c.tier - 1)
            OR (c.level = 'unit' AND p.level = 'grid'))"""),
    "assignment_area": ("assignments of people to an area the generation does not hold", """
        SELECT 'assignment ' || s.id || ' (' || s.role || ', ' || s.level || ' ' || s.area_code || ')'
        FROM assignment s WHERE NOT EXISTS (
            SELECT 1 FROM generation_area ga WHERE ga.generation_id = :g AND ga.area_id = s.area_id)"""),
    "request_area": ("open requests located in an area the generation does not hold", f"""
        SELECT 'request ' || r.id || ' (' || concat_ws(', ', 'grid ' || r.grid_code, 'unit ' || r.unit_code) || ')'
        FROM request r WHERE r.status IN ({OPEN_SQL}) AND (
            (r.grid_area_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM generation_area ga
                WHERE ga.generation_id = :g AND ga.area_id = r.grid_area_id AND ga.level = 'grid'))
            OR (r.unit_area_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM generation_area ga
                WHERE ga.generation_id = :g AND ga.area_id = r.unit_area_id AND ga.level = 'unit')))"""),
}


def check(session, generation: int | None = None) -> dict:
    """Run every check on `generation` (default: the active one); returns {"generation", "ok",
    "findings": [{"kind", "message", "count", "examples"}]}; GenerationNotFound when there is no such generation."""
    if generation is None:
        generation = session.execute(text("SELECT generation_id FROM active_generation WHERE id = 1")).scalar()
        if generation is None:
            raise GenerationNotFound("generation: there is no active generation yet; import areas or build the demo first")
    elif session.execute(text("SELECT 1 FROM generation WHERE id = :g"), {"g": generation}).scalar() is None:
        raise GenerationNotFound(f"generation: generation {generation} does not exist")
    findings = []
    for kind, (message, sql) in CHECKS.items():
        count = session.execute(text(f"SELECT count(*) FROM ({sql}) q"), {"g": generation}).scalar()
        if count:
            examples = list(session.execute(text(f"SELECT * FROM ({sql}) q ORDER BY 1 LIMIT {SAMPLE}"),
                                            {"g": generation}).scalars())
            findings.append({"kind": kind, "message": message, "count": int(count), "examples": examples})
    return {"generation": int(generation), "ok": not findings, "findings": findings}
