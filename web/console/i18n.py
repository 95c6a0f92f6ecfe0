"""The console's UI strings in English and Chinese, and which of the two a request gets.

An agent's own language (from the agents' store) wins; before sign-in, or for an agent without one, the browser's
`Accept-Language` decides (the first of `zh*` or `en*` it names, by quality). Every key exists in both languages
(a test checks), and templates ask through `t(key)`, which fails loudly on a missing key rather than showing it.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "zh")
DEFAULT = "en"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "app": "Helpline console",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "email": "Email",
        "password": "Password",
        "bad_credentials": "That email and password do not match an agent who may sign in.",
        "too_many_failures": "Too many failed sign-ins with this email: try again in 15 minutes.",
        "signed_in_as": "Signed in as",
        "reports": "Reports",
        "forbidden": "Your role does not allow this page.",
        "csrf_refused": "This form has expired or was not sent from the console. Reload the page and try again.",
        "from": "From",
        "to": "To",
        "queue": "Queue",
        "agent": "Agent",
        "all_queues": "All queues",
        "all_agents": "All agents",
        "period": "Period",
        "period_all": "Whole range",
        "period_day": "Day",
        "period_week": "Week",
        "period_month": "Month",
        "show": "Show",
        "download_csv": "Download CSV",
        "bad_range": "Choose a valid range",
        "nothing": "Nothing recorded in this range.",
        "volume_by_channel": "Volume by channel",
        "volume_by_category": "Volume by category",
        "response_times": "First response and resolution",
        "sla_csat": "SLA attainment and satisfaction",
        "corrections": "Categories agents corrected most",
        "channel": "Channel",
        "category": "Category",
        "messages": "Messages",
        "first_response_median": "First response, median",
        "first_response_p90": "First response, p90",
        "resolution_median": "Resolution, median",
        "resolution_p90": "Resolution, p90",
        "cases": "Cases",
        "sla_first_response": "First response SLA met",
        "sla_resolution": "Resolution SLA met",
        "csat": "CSAT (4 or 5)",
        "ratings": "Ratings",
        "corrected_from": "Routed as",
        "corrected_to": "Corrected to",
        "times": "Times",
        "unit_h": "h",
        "unit_min": "min",
        "unit_s": "s",
        "home": "Console",
        "total": "Total",
        "record_unavailable": "The record (PostgreSQL) cannot be reached: reports are unavailable for now.",
        "role_agent": "agent",
        "role_supervisor": "supervisor",
        "role_admin": "admin",
        "channel_email": "Email",
        "channel_sms": "SMS",
        "channel_whatsapp": "WhatsApp",
        "channel_voice": "Voice",
        "channel_telegram": "Telegram",
        # queues overview, case list, notices
        "queues": "Queues",
        "next": "Next",
        "next_hint": "Take the most urgent case of your queues",
        "next_nothing": "Nothing is waiting in your queues.",
        "next_capacity": "You have as many cases open as your capacity allows: answer or resolve one first.",
        "next_refused": "That queue is not one of yours.",
        "priority": "Priority",
        "priority_urgent": "Urgent",
        "priority_high": "High",
        "priority_normal": "Normal",
        "priority_low": "Low",
        "waiting": "Waiting",
        "oldest": "Oldest wait",
        "taken": "Taken",
        "fr_at_risk": "First response at risk",
        "fr_breached": "First response breached",
        "res_at_risk": "Resolution at risk",
        "res_breached": "Resolution breached",
        "all_priorities": "All",
        "after_hours": "outside business hours",
        "no_queues": "You have no queues yet: an admin gives them.",
        "live_hint": "New cases appear here as they arrive.",
        "notices": "Notices",
        "no_notices": "No notice is being shown to customers.",
        "notice_active": "shown now",
        "notice_scheduled": "scheduled",
        "notice_from_settings": "from settings.toml",
        "until": "Until",
        "starts": "From",
        "notice_text_en": "Text (English)",
        "notice_text_zh": "Text (Chinese)",
        "notice_until_zone": "Ends at (time zone {zone})",
        "add_notice": "Add notice",
        "end_notice": "End",
        "notice_added": "The notice is added: every acknowledgement carries it now.",
        "notice_ended": "The notice is ended.",
        "notice_no_text": "A notice needs a text, in English or Chinese.",
        "notice_bad_until": "Give the end as a date and time.",
        "notice_past": "That end time has already passed.",
        "notice_in_settings": "That notice is written in settings.toml: end it there.",
        "notice_unknown": "There is no such notice (it may have ended already).",
        "filter": "Filter",
        "search": "Search",
        "search_hint": "Reference, email, phone or text",
        "state": "State",
        "any": "Any",
        "state_open": "Open",
        "state_pending": "Pending",
        "state_resolved": "Resolved",
        "mine": "Mine only",
        "language": "Language",
        "language_en": "English",
        "language_zh": "Chinese",
        "reference": "Reference",
        "subject": "Subject",
        "created": "Created",
        "last_message": "Last message",
        "no_cases": "No case matches.",
        "more_cases": "Older cases",
        "newer_cases": "Newer cases",
        "bad_state": "Choose a state from the list.",
        "bad_channel": "Choose a channel from the list.",
        "bad_language": "A language is a code such as en or zh.",
        "bad_page": "That page number is not a number.",
        "search_too_short": "A text search needs 3 characters or more (1 or more in Chinese).",
    },
    "zh": {
        "app": "Helpline 客服控制台",
        "sign_in": "登录",
        "sign_out": "退出登录",
        "email": "邮箱",
        "password": "密码",
        "bad_credentials": "邮箱或密码不正确，或该客服无权登录。",
        "too_many_failures": "该邮箱登录失败次数过多，请 15 分钟后再试。",
        "signed_in_as": "当前登录",
        "reports": "报表",
        "forbidden": "您的角色无权查看此页面。",
        "csrf_refused": "表单已过期或并非从控制台提交，请刷新页面后重试。",
        "from": "开始",
        "to": "结束",
        "queue": "队列",
        "agent": "客服",
        "all_queues": "全部队列",
        "all_agents": "全部客服",
        "period": "周期",
        "period_all": "整个区间",
        "period_day": "按天",
        "period_week": "按周",
        "period_month": "按月",
        "show": "查询",
        "download_csv": "下载 CSV",
        "bad_range": "请选择有效的时间区间",
        "nothing": "该区间内没有记录。",
        "volume_by_channel": "各渠道消息量",
        "volume_by_category": "各类别消息量",
        "response_times": "首次响应与解决时长",
        "sla_csat": "SLA 达成率与满意度",
        "corrections": "客服最常更正的类别",
        "channel": "渠道",
        "category": "类别",
        "messages": "消息数",
        "first_response_median": "首次响应（中位数）",
        "first_response_p90": "首次响应（P90）",
        "resolution_median": "解决时长（中位数）",
        "resolution_p90": "解决时长（P90）",
        "cases": "工单数",
        "sla_first_response": "首次响应 SLA 达成率",
        "sla_resolution": "解决 SLA 达成率",
        "csat": "满意度（4 或 5 分）",
        "ratings": "评分数",
        "corrected_from": "原路由类别",
        "corrected_to": "更正为",
        "times": "次数",
        "unit_h": "小时",
        "unit_min": "分",
        "unit_s": "秒",
        "home": "控制台",
        "total": "合计",
        "record_unavailable": "暂时无法连接记录库（PostgreSQL），报表暂不可用。",
        "role_agent": "客服",
        "role_supervisor": "主管",
        "role_admin": "管理员",
        "channel_email": "邮件",
        "channel_sms": "短信",
        "channel_whatsapp": "WhatsApp",
        "channel_voice": "语音",
        "channel_telegram": "Telegram",
        # queues overview, case list, notices
        "queues": "队列",
        "next": "下一个",
        "next_hint": "领取您队列中最紧急的工单",
        "next_nothing": "您的队列中没有等待的工单。",
        "next_capacity": "您手上的工单已达上限：请先回复或解决一个。",
        "next_refused": "该队列不属于您。",
        "priority": "优先级",
        "priority_urgent": "紧急",
        "priority_high": "高",
        "priority_normal": "普通",
        "priority_low": "低",
        "waiting": "等待中",
        "oldest": "最长等待",
        "taken": "处理中",
        "fr_at_risk": "首次响应有超时风险",
        "fr_breached": "首次响应已超时",
        "res_at_risk": "解决有超时风险",
        "res_breached": "解决已超时",
        "all_priorities": "全部",
        "after_hours": "非营业时间",
        "no_queues": "您还没有队列：请管理员分配。",
        "live_hint": "新工单到达时会自动显示在这里。",
        "notices": "公告",
        "no_notices": "当前没有向客户显示的公告。",
        "notice_active": "显示中",
        "notice_scheduled": "已排期",
        "notice_from_settings": "来自 settings.toml",
        "until": "结束",
        "starts": "开始",
        "notice_text_en": "内容（英文）",
        "notice_text_zh": "内容（中文）",
        "notice_until_zone": "结束时间（时区 {zone}）",
        "add_notice": "添加公告",
        "end_notice": "结束",
        "notice_added": "公告已添加：此后每条自动回复都会附带它。",
        "notice_ended": "公告已结束。",
        "notice_no_text": "公告需要内容（英文或中文）。",
        "notice_bad_until": "请填写结束的日期和时间。",
        "notice_past": "该结束时间已经过去。",
        "notice_in_settings": "该公告写在 settings.toml 中：请在那里结束它。",
        "notice_unknown": "没有该公告（可能已经结束）。",
        "filter": "筛选",
        "search": "搜索",
        "search_hint": "编号、邮箱、电话或文字",
        "state": "状态",
        "any": "全部",
        "state_open": "待处理",
        "state_pending": "等待客户",
        "state_resolved": "已解决",
        "mine": "只看我的",
        "language": "语言",
        "language_en": "英文",
        "language_zh": "中文",
        "reference": "编号",
        "subject": "主题",
        "created": "创建时间",
        "last_message": "最新消息",
        "no_cases": "没有符合条件的工单。",
        "more_cases": "更早的工单",
        "newer_cases": "更新的工单",
        "bad_state": "请从列表中选择状态。",
        "bad_channel": "请从列表中选择渠道。",
        "bad_language": "语言请填写代码，例如 en 或 zh。",
        "bad_page": "页码不是数字。",
        "search_too_short": "文字搜索至少需要 3 个字符（中文至少 1 个）。",
    },
}


def choose(agent_language: str | None, accept_language: str | None) -> str:
    if agent_language:
        short = agent_language.lower()[:2]
        if short in LANGUAGES:
            return short
    return from_accept_language(accept_language or "")


def from_accept_language(header: str) -> str:
    """The best of our languages in an `Accept-Language` header (`zh-CN,zh;q=0.9,en;q=0.8`)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        short = tag.strip().lower()[:2]
        if short in LANGUAGES and quality > 0:
            ranked.append((-quality, position, short))
    return min(ranked)[2] if ranked else DEFAULT


def translator(language: str) -> Callable[[str], str]:
    table = STRINGS[language]

    def t(key: str) -> str:
        return table[key]

    return t


def channel_name(t: Callable[[str], str], channel: str) -> str:
    """A channel's name in the UI language; a channel the table does not know shows as it is recorded."""
    try:
        return t(f"channel_{channel}")
    except KeyError:
        return channel
