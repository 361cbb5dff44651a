"""The project's words, each defined once: area levels, key roles, staff roles, station kinds and the
statuses of a resident request. Pure data (no imports from the rest of `gis`), so the schema, the rules
and the answers all name the same things in the same order."""
from __future__ import annotations

# The hierarchy, top down (区县 → 街道 → 社区 → 网格 → 十联户); a level's rank is its depth.
LEVELS = ("district", "street", "community", "grid", "unit")
LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}

# API key roles, least to most privileged.
ROLES = ("consumer", "command", "planner", "admin")

# The builtin roles in the order a locate answer lists them (the person on the ground first); a city adds
# its own roles in the `role` table, and those are listed after these.
STAFF_ROLES = ("grid_worker", "estate_grid_leader", "building_leader", "grid_leader", "unit_leader",
               "department_contact", "holding_department", "community_secretary", "reporting_official",
               "volunteer", "mediator", "mobile_probe")

# Service station kinds and their Chinese names (as station files and the maps write them).
STATION_KINDS = {"party_service_center": "党群服务中心", "convenience_station": "便民服务站", "red_post": "红色驿站"}
STATION_KIND_MAX = 64  # characters in a station's kind: kinds are free text (any kind is stored as given), not endless

# The nine steps of the request loop (九步闭环) as statuses, in order, with their Chinese names;
# `rejected` ends a request that is not a real matter.
STEPS = (
    ("collected", "信息采集"), ("discovered", "问题发现"), ("analysed", "分析研判"),
    ("dispatched", "流转交办"), ("handling", "执行处置"), ("coordinating", "协调联动"),
    ("supervised", "日常督办"), ("fed_back", "结果反馈"), ("evaluated", "考核评价"),
)
STEP_NAMES = dict(STEPS) | {"rejected": "不予受理"}
REQUEST_STATUSES = tuple(STEP_NAMES)
# Work still owed (deadlines apply, the sweep escalates); a fed-back request only awaits its rating.
OPEN_STATUSES = ("collected", "discovered", "analysed", "dispatched", "handling", "coordinating", "supervised")
FINISHED_STATUSES = ("fed_back", "evaluated")
