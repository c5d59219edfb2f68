"""The menu follows the user's roles."""

from .models import Role
from .permissions import can_create_households
from .scoping import roles_of

ROLE_LABELS = dict(Role.choices)
# Roles with a step of the loan workflow (a work queue).
QUEUE_ROLES = {Role.VILLAGE_CLERK, Role.TOWNSHIP_OFFICER, Role.COUNTY_STAFF, Role.BANK_OFFICER}


def _active(menu: list[dict], view_name: str) -> None:
    """Mark the item of the current page: its own entry, else the entry of its app
    (a household's detail page lights up 建档立卡户)."""
    exact = [item for item in menu if item["url_name"] == view_name]
    if exact:
        exact[0]["active"] = True
        return
    namespace = view_name.split(":")[0] if ":" in view_name else None
    for item in menu:
        if namespace and item["url_name"] in (f"{namespace}:list", f"{namespace}:index"):
            item["active"] = True
            return


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = roles_of(user)
    menu = [{"label": "首页", "url_name": "home"}, {"label": "建档立卡户", "url_name": "households:list"}]
    if can_create_households(user):
        menu.append({"label": "新建户档", "url_name": "households:create"})
    menu.append({"label": "带贫企业", "url_name": "enterprises:list"})
    if roles:  # every role reads ratings in its area (banks: the effective ones)
        menu.append({"label": "信用评级", "url_name": "credit_rating:list"})
        menu.append({"label": "贷款", "url_name": "loans:list"})
        if roles & {Role.COUNTY_STAFF, Role.BANK_OFFICER, Role.CITY_FINANCE, Role.ADMIN}:
            menu.append({"label": "财政贴息", "url_name": "subsidy:list"})
        menu.append({"label": "风险补偿金", "url_name": "risk_fund:list"})
        if roles & {Role.COUNTY_STAFF, Role.CITY_FINANCE, Role.ADMIN}:  # the others read it by link
            menu.append({"label": "政策参数", "url_name": "policies:index"})
        menu.append({"label": "统计分析", "url_name": "dashboard:index"})
    if roles & QUEUE_ROLES:
        from loans.selectors import work_queue_count  # loans builds on organization, not the reverse

        menu.append({"label": "我的待办", "url_name": "loans:queue", "badge": work_queue_count(user=user)})
    from imports.services import may_use_imports  # imports builds on organization, not the reverse

    if may_use_imports(user, roles=roles):
        menu.append({"label": "档卡导入", "url_name": "imports:list"})
    menu.append({"label": "API 文档", "url_name": "api-docs"})
    if user.is_staff:
        menu.append({"label": "系统管理", "url_name": "admin:index"})
    match = getattr(request, "resolver_match", None)
    if match is not None:
        _active(menu, match.view_name)
    return {
        "nav_menu": menu,
        "nav_roles": sorted(roles),
        "nav_role_labels": [ROLE_LABELS.get(r, r) for r in sorted(roles)],
    }
