"""The one place errors become responses: JSON for machine clients, a page for people."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from grids.errors import Conflict, DomainError, Unavailable
from grids.photos import MAX_BYTES
from grids.workflow import SYSTEM_ROLE
from webapp.api.open311 import open311_error
from webapp.labels import action_label, duration_label, field_label, level_label, role_label, status_label

MACHINE_PREFIXES = ("/api/", "/open311/", "/tiles/", "/healthz")
#: PostgreSQL's codes for a transaction rolled back because it lost a race (deadlock_detected,
#: serialization_failure): the database is fine, the caller reloads and tries again (409, not 503).
LOST_RACE = {"40P01", "40001"}

#: What people read for an error, whole in their language (pages, forms, and `display` in the JSON our own
#: pages read; `message` stays the stable English for machine clients). %(name)s places take the error's
#: details, worded by DETAIL_WORDS.
ERROR_TEXT = {
    "duplicate_external_id": _l("工单号已登记为案件 #%(id)s：请打开该案件，不要重复录入。"),
    # a case's workflow
    "illegal_action": _l("案件%(status)s，不能%(action)s；现在可做：%(allowed)s。"),
    "role_forbidden": _l("%(role)s不能%(action)s此案件，需要：%(needs)s。"),
    "page_forbidden": _l("您的角色不能打开此页面。"),
    "not_the_owner": _l("此案件已派给%(department)s，由其接单、处置或退回。"),
    "own_work": _l("此案件由本中队处置，核查须由监督员进行（监管分离）。"),
    "own_report": _l("这是你本人的上报：核实须由他人在现场进行，指挥中心可直接立案。"),
    "first_hand": _l("这是工作人员在现场的上报，已是第一手情况，无需核实：由指挥中心直接立案。"),
    "own_report_outside_zone": _l("这是你在辖区外的上报：你可以跟进查看，由当地人员处置。"),
    "stale_version": _l("案件刚被他人更新，请刷新后再操作。"),
    "concurrent_change": _l("有人同时在修改相同的案件：请刷新后再操作。"),
    "unavailable": _l("数据库暂时不可用，请稍后重试。"),
    "missing_fields": _l("请先填写：%(fields)s。"),
    "extension_pending": _l("已有延期申请（%(duration)s）等待审批。"),
    "no_extension_request": _l("没有等待审批的延期申请。"),
    "bad_cancel_reason": _l("作废原因只能是重复上报或无效上报。"),
    "unknown_department": _l("没有这个部门。"),
    "not_found": _l("找不到要找的内容，或它不在您的辖区内。"),
    "case_not_found": _l("没有这个案件，或它不在你的辖区内。"),
    "unauthorized": _l("请先登录。"),
    "bad_api_key": _l("API 密钥无效或已吊销：请向管理员索取新的密钥（gridlink apikeys create）。"),
    "key_of_another_city": _l("这个 API 密钥属于另一个城市，不是本服务器服务的城市：请向管理员索取本城市的密钥。"),
    "city_not_set_up": _l("本服务器还没有城市 %(city)s 的数据：请管理员先运行 gridlink demo load 或导入城市目录。"),
    "method_not_allowed": _l("此地址不支持这种请求。"),
    "forbidden": _l("您没有权限执行此操作。"),
    "request_entity_too_large": _l("上传的内容太大：每次最多 %(upload_mb)s MB。"),
    "nul_character": _l("%(fields)s 中有空字符（U+0000），请删去后重试。"),
    "bad_extension": _l("延期须在 %(shortest)s 至 %(longest)s 之间，不能是 %(duration)s；更久的请挂账。"),
    "same_department": _l("案件已在%(department)s：改派请选另一个部门。"),
    "json_required": _l("页面的安全令牌已失效（可能已重新登录）：请刷新页面后重试。"),
    "not_utf8": _l("表单不是 UTF-8 编码（%(found)s）：请以 UTF-8 发送。"),
    "bad_character": _l("%(fields)s 中有不可见的控制字符（%(char)s），请删去后重试。"),
    "bad_field": _l("请检查：%(fields)s（格式不对或此处不需要）。"),
    "too_long": _l("字数超出上限（%(limits)s）：请删减后重试。"),
    # reports: places, categories, photos, components
    "bad_coordinates": _l("坐标无效：经度和纬度须为以度计的数字（小数点用“.”），"
                          "经度在 -180 到 180 之间，纬度在 -90 到 90 之间。"),
    "outside_city": _l("该点在%(city)s边界之外（全市的外接范围为经度 %(west)s–%(east)s、纬度 %(south)s–%(north)s，"
                       "边界附近的点可能在此范围内而不在市内）：请检查坐标，以及所选坐标系是否与取点的地图一致。"),
    "unknown_crs": _l("没有坐标系“%(crs)s”：请选 WGS84（GPS）、GCJ-02（高德、腾讯）、BD-09（百度）或 CGCS2000。"),
    "swapped_coordinates": _l("经度和纬度似乎填反了：应为经度 %(lon)s、纬度 %(lat)s。"),
    "unknown_category": _l("没有这个类别，请从列表中选择。"),
    "not_an_image": _l("%(file)s 不是图片：请上传 JPEG、PNG 或 WebP 照片。"),
    "photo_too_large": _l("%(file)s 太大：每张照片最多 %(mb)s MB。"),
    "photo_too_many_pixels": _l("%(file)s 有 %(megapixels)s 百万像素：每张照片最多 %(max_mp)s 百万像素，请缩小再传。"),
    "heic_photo": _l("%(file)s 是 HEIC 格式，无法读取：请上传 JPEG（iPhone：设置 > 相机 > 格式 > 兼容性最佳）。"),
    "empty_photo": _l("%(file)s 是空文件。"),
    "too_many_photos": _l("照片太多：每次最多 %(max)s 张，现有 %(got)s 张。"),
    "after_photo_required": _l("请拍摄或选择至少一张处置后照片。"),
    "unknown_component": _l("部件台账中没有这个编码，请核对部件铭牌上的 16 位编码。"),
    "component_far": _l("该点距部件 %(code)s 有 %(distance_m)s 米：请核对部件铭牌上的编码和所选坐标系，"
                        "或只填部件编码，由系统定位到部件处。"),
    "component_class_mismatch": _l("部件 %(code)s 属于“%(name)s”（%(class_code)s）类，与所选类别不符：请按该类上报，"
                                   "或不填部件编码。"),
    # machine clients: /api/v1 and Open311 (whose `description` is shown to the client's user)
    "bad_json": _l("请求正文须为一个 UTF-8 编码的 JSON 对象（Content-Type: application/json）。"),
    "form_required": _l("请以表单编码（application/x-www-form-urlencoded）发送各字段，GeoReport v2 规定如此。"),
    "api_key_required": _l("提交服务请求须附 api_key，放在表单正文中，不要放在地址里。"),
    "repeated_field": _l("每个字段只能发送一次，重复发送的有：%(fields)s。"),
    "bad_bbox": _l("bbox 须为四个有限的数字：西,南,东,北（WGS84 度），西不大于东，南不大于北。"),
    "bad_status": _l("status 只能是 open、closed，或两者（open,closed）。"),
    "bad_date": _l("%(fields)s 须为 ISO 8601 格式的日期，例如 2026-11-01 或 2026-11-01T00:00:00+08:00。"),
    "bad_date_range": _l("start_date 须早于 end_date，且两者相隔不超过 90 天。"),
    "bad_id": _l("service_request_id 须为案件编号，多个以逗号分隔。"),
    "missing_location": _l("请提供位置：经纬度、地址或部件编码。"),
    "unknown_service": _l("没有这个服务类别（service_code）：请从 services.json 中选择。"),
    "unknown_request": _l("没有这个服务请求，或它不属于本城市。"),
    "unknown_jurisdiction": _l("本接口不服务这个辖区（jurisdiction_id）：可不填，或填本城市的代码。"),
    # the planner's layout editor
    "stale_revision": _l("图层刚被他人修改，请刷新后再编辑。"),
    "not_draft": _l("只有草稿可以修改或发布；要重绘已发布的图层，请先复制为草稿。"),
    "bad_line": _l("请画一条至少有两个点的线。"),
    "sliver": _l("这条线会切出过小的碎块，请避开角点重新画。"),
    "line_misses": _l("这条线没有从一边到另一边完整穿过网格。"),
    "too_few_grids": _l("请选择至少两个相邻的网格。"),
    "different_divisions": _l("所选网格属于不同的上级区划：网格不能跨越区划边界。"),
    "different_duty_areas": _l("所选网格属于不同的责任网格（%(areas)s）："
                               "请合并同一责任网格内的网格，或先调整责任网格。"),
    "not_neighbours": _l("所选网格互不相邻（没有共有边）。"),
    "bad_edge": _l("新边界须从一侧到另一侧恰好穿过两个网格的外轮廓一次。"),
    "bad_polygon": _l("请画一个简单多边形（各边不能相交）。"),
    "no_gap": _l("所画范围内没有空隙：其中每一处都已属于某个网格。"),
    "layout_has_problems": _l("图层还有问题，不能发布：请先检查并修正地图上标出的问题。"),
    "layout_over_layout": _l("区划 %(division)s 的图层 #%(layout)s 正在生效，覆盖了这里：两个图层会让每个点有两个网格。"
                             "请重新生成较大区划的图层（网格会画在各下级区划之内）并发布它。"),
    "unknown_squad": _l("没有这个中队，请刷新页面后重选。"),
    "not_co_manager": _l("所选人员不是协管员，请重选。"),
    "outside_township": _l("网格 %(grids)s 不在所选人员的乡镇（%(township)s）：请分配给网格所在乡镇的中队和协管员。"),
    # responsibility grids and 门前三包 areas
    "no_grids": _l("请至少选择一个单元网格。"),
    "mixed_layouts": _l("所选单元网格须属于同一个草稿或已发布的图层。"),
    "not_contiguous": _l("所选单元网格须连成一片：%(detached)s 与其他网格没有共有边。"),
    "no_code": _l("责任网格需要编码和名称。"),
    "code_taken": _l("这个责任网格编码已被使用，请换一个。"),
    "unknown_party": _l("找不到所选的责任方，请刷新页面后重选。"),
    "bad_geometry": _l("所画范围不是有效的面（例如边线自相交），请重新画。"),
    "area_overlaps": _l("所画范围与其他单位的责任区重叠：%(overlaps)s。请调整后再保存。"),
    "photo_not_found": _l("没有这张照片，或它不在您的辖区内。"),
    # boundaries
    "bad_parent": _l("%(parent)s %(name)s 是%(parent_level)s：%(level)s须位于更高一级的区划内，请检查层级和上级区划。"),
}
#: How a detail reads in a message: codes become the reader's words, lists are joined.
DETAIL_WORDS = {
    "status": status_label, "action": action_label, "role": role_label, "duration": duration_label,
    "shortest": duration_label, "longest": duration_label,
    "allowed": lambda codes: _("、").join(map(action_label, codes)) or _("无"),
    "needs": lambda roles: _("或").join(role_label(r) for r in roles if r != SYSTEM_ROLE),  # people who may
    "fields": lambda names: _("、").join(map(field_label, names)),
    "limits": lambda limits: _("、").join(_("%(field)s最多 %(n)s 个字", field=field_label(name), n=n)
                                         for name, n in limits.items()),
    "detached": lambda codes: _("、").join(codes), "grids": lambda codes: _("、").join(codes),
    "areas": lambda codes: _("、").join(codes),
    "overlaps": lambda items: _("、").join(f"{o['name']} {o['overlap_m2']} m²" for o in items),
    "level": level_label, "parent_level": level_label,
}


def _upload_limit() -> int:
    """The body limit of this request (a JSON body has its own, webapp.JSON_LIMIT), or the app's."""
    limit = request.max_content_length if has_request_context() else None
    return limit or current_app.config["MAX_CONTENT_LENGTH"]


def error_text(code: str, details: Any = None) -> str | None:
    """The error in the reader's language; None when ERROR_TEXT has no words for the code, or the error lacks
    a detail they need (the same code raised elsewhere with less to say): the caller shows its message then."""
    template = ERROR_TEXT.get(code)
    if template is None:
        return None
    given = details if isinstance(details, dict) else {"fields": details} if isinstance(details, list) else {}
    try:  # inside an error handler: words that cannot be made fall back to the message, never a 500
        params = {"mb": MAX_BYTES // 1048576, "upload_mb": _upload_limit() // 1048576,
                  **{k: DETAIL_WORDS.get(k, str)(v) for k, v in given.items()}}
        return str(template) % params
    except (KeyError, TypeError, ValueError):
        return None


def wants_json() -> bool:
    return request.path.startswith(MACHINE_PREFIXES) or request.accept_mimetypes.best == "application/json"


def render_error(status: int, code: str, message: str, details: Any = None) -> Any:
    display = error_text(code, details)
    if request.path.startswith("/open311/"):
        return open311_error(status, code, message, display)
    if wants_json():
        body: dict[str, Any] = {"error": {"code": code, "message": message}}
        if details is not None:
            body["error"]["details"] = details
        if display:
            body["error"]["display"] = display
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=display or message), status


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Any:
        response = make_response(render_error(exc.status, exc.code, exc.message, exc.details))
        if isinstance(exc.details, dict) and "retry_after" in exc.details:  # 429: clients read the header
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        if exc.status == 401 and request.path.startswith("/api/"):  # how to authenticate (RFC 6750)
            response.headers["WWW-Authenticate"] = 'Bearer realm="gridlink"'
        return response

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        return render_error(400, "csrf_failed", _("表单已过期或缺少安全令牌，请刷新页面后重试。"))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        message = (f"the request body is over its limit of {_upload_limit() // 1048576} MB" if exc.code == 413
                   else exc.description or exc.name)  # Werkzeug's 413 text names no limit
        response = make_response(render_error(exc.code or 500, code, message))
        allow = dict(exc.get_headers()).get("Allow")
        if allow:  # a 405 says which methods the path takes (RFC 9110)
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _db_down(exc: Exception) -> Any:
        if getattr(getattr(exc, "orig", None), "pgcode", None) in LOST_RACE:
            app.logger.warning("a transaction lost a race with another and was rolled back: %s", exc)
            err: DomainError = Conflict("another change to the same cases ran at the same time: reload them and "
                                        "try again", code="concurrent_change")
        else:
            app.logger.warning("database unavailable: %s", exc)
            err = Unavailable("the database is unavailable for the moment: retry shortly")
        return render_error(err.status, err.code, err.message)
