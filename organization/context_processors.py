"""The menu follows the user's roles."""

from .scoping import roles_of


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = roles_of(user)
    menu = [{"label": "首页", "url_name": "home"}, {"label": "建档立卡户", "url_name": "households:list"}]
    if roles & {"village_clerk", "county_staff", "admin"}:
        menu.append({"label": "新建户档", "url_name": "households:create"})
    menu.append({"label": "API 文档", "url_name": "api-docs"})
    if user.is_staff:
        menu.append({"label": "系统管理", "url_name": "admin:index"})
    return {"nav_menu": menu, "nav_roles": sorted(roles)}
