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
        # case actions
        "act_canned": "Canned replies",
        "act_canned_in": "In the customer's language:",
        "act_language_en": "English",
        "act_language_zh": "Chinese",
        "act_preview": "Preview",
        "act_preview_of": "What the customer gets",
        "act_send_canned": "Send",
        "act_notes": "Internal notes",
        "act_no_notes": "No notes yet.",
        "act_note_label": "A note for the team (never sent to the customer)",
        "act_add_note": "Add note",
        "act_recategorize": "Change category, priority or queue",
        "act_category": "Category",
        "act_priority": "Priority",
        "act_queue": "Queue",
        "act_reason": "Reason",
        "act_change": "Change",
        "act_unchanged": "unchanged",
        "act_priority_urgent": "urgent",
        "act_priority_high": "high",
        "act_priority_normal": "normal",
        "act_priority_low": "low",
        "act_reopen": "Reopen",
        "act_reopen_hint": "The case goes back to its queue, waiting.",
        "act_reassign": "Reassign",
        "act_to_agent": "To",
        "act_now_with": "now with",
        "act_away": "away",
        "act_reassign_button": "Reassign",
        "act_back": "Back to the case",
        "act_forbidden": "This case is not in your queues.",
        "act_supervisors_only": "Only supervisors and admins reassign cases.",
        "act_ambiguous": "This names several cases: open one of them by its reference.",
        "act_not_found": "No case matches this.",
        "act_unavailable": "The desk's stores cannot be reached right now: try again in a moment.",
        "act_canned_missing": "Choose a canned reply.",
        "act_canned_unknown": "There is no such canned reply for this case.",
        "act_state_refuses": "The case's state does not allow this.",
        "act_note_refused": "The note was not added.",
        "act_change_refused": "Nothing was changed.",
        "act_queue_forbidden": "You can only move a case into your own queues; a supervisor can move it to:",
        "act_agent_missing": "Choose an agent.",
        "act_agent_unknown": "The case was not reassigned.",
        "done_noted": "Your note is added.",
        "done_recategorized": "The case is changed.",
        "done_reopened": "The case is open again, waiting in its queue.",
        "done_reassigned": "The case is reassigned.",
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
        # case actions
        "act_canned": "常用回复",
        "act_canned_in": "使用客户的语言：",
        "act_language_en": "英文",
        "act_language_zh": "中文",
        "act_preview": "预览",
        "act_preview_of": "客户将收到的内容",
        "act_send_canned": "发送",
        "act_notes": "内部备注",
        "act_no_notes": "暂无备注。",
        "act_note_label": "给团队的备注（不会发给客户）",
        "act_add_note": "添加备注",
        "act_recategorize": "修改类别、优先级或队列",
        "act_category": "类别",
        "act_priority": "优先级",
        "act_queue": "队列",
        "act_reason": "原因",
        "act_change": "修改",
        "act_unchanged": "不变",
        "act_priority_urgent": "紧急",
        "act_priority_high": "高",
        "act_priority_normal": "普通",
        "act_priority_low": "低",
        "act_reopen": "重新打开",
        "act_reopen_hint": "工单将回到其队列中等待处理。",
        "act_reassign": "转派",
        "act_to_agent": "转给",
        "act_now_with": "当前处理人",
        "act_away": "离开",
        "act_reassign_button": "转派",
        "act_back": "返回工单",
        "act_forbidden": "该工单不在您的队列中。",
        "act_supervisors_only": "只有主管和管理员可以转派工单。",
        "act_ambiguous": "匹配到多个工单：请用工单编号打开其中一个。",
        "act_not_found": "没有匹配的工单。",
        "act_unavailable": "暂时无法连接客服系统的存储，请稍后再试。",
        "act_canned_missing": "请选择一条常用回复。",
        "act_canned_unknown": "该工单没有这条常用回复。",
        "act_state_refuses": "工单当前的状态不允许此操作。",
        "act_note_refused": "备注未添加。",
        "act_change_refused": "未做任何修改。",
        "act_queue_forbidden": "您只能把工单移到自己的队列中；主管可以把它移到：",
        "act_agent_missing": "请选择一位客服。",
        "act_agent_unknown": "工单未转派。",
        "done_noted": "备注已添加。",
        "done_recategorized": "工单已修改。",
        "done_reopened": "工单已重新打开，正在队列中等待。",
        "done_reassigned": "工单已转派。",
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
