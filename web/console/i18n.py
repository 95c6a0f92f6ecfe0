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
        # incidents
        "incidents": "Incidents",
        "incident_all": "All",
        "incident_status_open": "Open",
        "incident_status_answering": "Being answered",
        "incident_status_resolved": "Resolved",
        "incident_title": "Title",
        "incident_state": "State",
        "incident_case_count": "Cases",
        "incident_started": "Opened",
        "incident_opened_by": "Opened by",
        "incident_resolved_at": "Resolved",
        "incident_answered_by": "Answered by",
        "incident_none": "No incidents.",
        "incident_open": "Open an incident",
        "incident_notice_hint": "Optional: a notice every acknowledgement carries until the incident is resolved "
        "(one text serves both languages).",
        "incident_notice": "Customer notice",
        "incident_notice_en": "Notice (English)",
        "incident_notice_zh": "Notice (Chinese)",
        "incident_notice_until": "Until",
        "incident_cases": "Linked cases",
        "incident_no_cases": "No case is linked yet.",
        "incident_reference": "Reference",
        "incident_language": "Answer language",
        "incident_language_en": "English",
        "incident_language_zh": "Chinese",
        "incident_linked_by": "Linked by",
        "incident_outcome": "Outcome",
        "incident_outcome_resolved": "Answered and resolved",
        "incident_outcome_left_open": "Answered, left open",
        "incident_outcome_skipped": "Skipped",
        "incident_outcome_failed": "Failed",
        "incident_outcome_other": "Done",
        "incident_outcome_unsent": "Not sent (the answering stopped before this case)",
        "incident_case_open": "Open",
        "incident_case_pending": "Pending",
        "incident_case_resolved": "Resolved",
        "incident_unlink": "Unlink",
        "incident_link": "Link",
        "incident_link_handles": "Link cases by hand",
        "incident_handles": "References, Message-IDs, email addresses or phone numbers",
        "incident_handles_hint": "One a line (or separated by commas). Each must name one case, or nothing is linked.",
        "incident_link_search": "Link cases by a search",
        "incident_search_text": "Text in the customers' messages",
        "incident_search_hint": "Links every open or pending case holding this text (3 characters or more, 1 or 2 "
        "in Chinese); cases in another open incident are left out.",
        "incident_answer": "Answer and resolve",
        "incident_answer_en": "Answer (English)",
        "incident_answer_zh": "Answer (Chinese)",
        "incident_answer_hint": "Sent to every linked case not yet resolved, in its customer's language and on its "
        "channel; each case is then resolved, and so is the incident. One text serves both languages.",
        "incident_answer_send": "Send the answer and resolve",
        "incident_done_opened": "Incident opened.",
        "incident_done_added": "Cases linked:",
        "incident_done_already": "already linked:",
        "incident_done_elsewhere": "left out (in another open incident):",
        "incident_done_more": "the search found more than it links at once: narrow it and link again",
        "incident_done_unlinked": "Case unlinked.",
        "incident_done_answered": "Answer sent; cases answered:",
        "incident_refused": "The incident refuses this:",
        "incident_ambiguous": "That names several cases; name one by its reference:",
        "incident_not_found_case": "Not found:",
        "incident_bad_input": "Check the form:",
        "incident_bad_status": "Unknown incident state:",
        "incident_bad_until": "Not a date and time:",
        "incident_until_without_text": "An end for the notice needs a notice text.",
        "incident_missing": "No such incident:",
        "incident_unavailable": "The record (PostgreSQL) or Redis cannot be reached: incidents are unavailable.",
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
        # incidents
        "incidents": "事件",
        "incident_all": "全部",
        "incident_status_open": "进行中",
        "incident_status_answering": "正在答复",
        "incident_status_resolved": "已解决",
        "incident_title": "标题",
        "incident_state": "状态",
        "incident_case_count": "工单数",
        "incident_started": "创建时间",
        "incident_opened_by": "创建人",
        "incident_resolved_at": "解决时间",
        "incident_answered_by": "答复人",
        "incident_none": "暂无事件。",
        "incident_open": "创建事件",
        "incident_notice_hint": "可选：事件解决前，每条自动确认回复都会附带此公告（只填一种语言时两种语言共用）。",
        "incident_notice": "客户公告",
        "incident_notice_en": "公告（英文）",
        "incident_notice_zh": "公告（中文）",
        "incident_notice_until": "截止",
        "incident_cases": "关联工单",
        "incident_no_cases": "尚未关联任何工单。",
        "incident_reference": "编号",
        "incident_language": "答复语言",
        "incident_language_en": "英文",
        "incident_language_zh": "中文",
        "incident_linked_by": "关联人",
        "incident_outcome": "结果",
        "incident_outcome_resolved": "已答复并解决",
        "incident_outcome_left_open": "已答复，仍待处理",
        "incident_outcome_skipped": "已跳过",
        "incident_outcome_failed": "失败",
        "incident_outcome_other": "已处理",
        "incident_outcome_unsent": "未发送（答复在此工单前中断）",
        "incident_case_open": "待处理",
        "incident_case_pending": "等待客户",
        "incident_case_resolved": "已解决",
        "incident_unlink": "取消关联",
        "incident_link": "关联",
        "incident_link_handles": "手动关联工单",
        "incident_handles": "工单编号、Message-ID、邮箱或电话号码",
        "incident_handles_hint": "每行一个（或用逗号分隔）。每项须对应唯一工单，否则不关联任何工单。",
        "incident_link_search": "按搜索关联工单",
        "incident_search_text": "客户消息中的文字",
        "incident_search_hint": "关联所有包含该文字的待处理或等待客户的工单（至少 3 个字符，中文 1 到 2 个字）；"
        "已在其他进行中事件里的工单不会关联。",
        "incident_answer": "答复并解决",
        "incident_answer_en": "答复（英文）",
        "incident_answer_zh": "答复（中文）",
        "incident_answer_hint": "发送给每个尚未解决的关联工单，按客户的语言、经其渠道发送；随后解决这些工单和本事件。"
        "只填一种语言时两种语言共用。",
        "incident_answer_send": "发送答复并解决",
        "incident_done_opened": "事件已创建。",
        "incident_done_added": "已关联工单：",
        "incident_done_already": "此前已关联：",
        "incident_done_elsewhere": "未关联（已在其他进行中事件）：",
        "incident_done_more": "搜索结果超过单次关联上限：请缩小范围后再关联",
        "incident_done_unlinked": "已取消关联。",
        "incident_done_answered": "答复已发送，已答复工单：",
        "incident_refused": "事件当前状态不允许此操作：",
        "incident_ambiguous": "该标识对应多个工单，请用工单编号指定其一：",
        "incident_not_found_case": "未找到：",
        "incident_bad_input": "请检查表单：",
        "incident_bad_status": "未知的事件状态：",
        "incident_bad_until": "不是有效的日期时间：",
        "incident_until_without_text": "设置公告截止时间需要填写公告内容。",
        "incident_missing": "没有此事件：",
        "incident_unavailable": "暂时无法连接记录库（PostgreSQL）或 Redis，事件暂不可用。",
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
