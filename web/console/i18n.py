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
        # case view
        "priority": "Priority",
        "linked_to": "Merged into",
        "status_open": "open",
        "status_pending": "pending",
        "status_resolved": "resolved",
        "status_unknown": "unknown",
        "details_found": "Details found",
        "details_missing": "Still missing",
        "other_cases": "The contact's other cases",
        "no_other_cases": "None.",
        "review_category": "Check the category",
        "images_blocked": "{n} remote image(s) blocked: loading them would tell the sender the mail was read.",
        "show_images": "Show images",
        "mail_html": "The mail as its sender formatted it",
        "text_version": "Text version",
        "transcript": "Transcript",
        "recording_length": "Recording",
        "hosted_by_provider": "kept by the provider",
        "file_not_kept": "The content was not kept (over the size cap, or held by the provider).",
        "file_not_found": "No such file in this case.",
        "file_gone": "This file is no longer kept (erased, or past its retention).",
        "inline": "inline",
        "routing_trace": "Routing: why it went where it went",
        "reply_answer": "Our answer",
        "reply_acknowledgement": "Acknowledgement (automatic)",
        "reply_survey": "Satisfaction survey",
        "reply_automatic": "Automatic reply",
        "state_queued": "queued",
        "state_sent": "sent",
        "state_delivered": "delivered",
        "state_failed": "failed",
        "reply": "Reply",
        "send_reply": "Send reply",
        "reply_goes_pending": "The case then waits for the customer (pending).",
        "reply_empty": "Write a reply first.",
        "resolve": "Resolve",
        "done_answered": "Your reply is queued; the case is pending.",
        "done_answered_newer": "Your reply is queued; the customer wrote again meanwhile, so the case stays open.",
        "done_resolved": "The case is resolved; the satisfaction survey follows.",
        "case_not_found": "No case matches this.",
        "case_forbidden": "This case is not in your queues.",
        "case_ambiguous": "This names several cases: open one of them by its reference.",
        "case_unavailable": "The desk's stores cannot be reached right now: try again in a moment.",
        "case_choose": "Several cases match",
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
        # case view
        "priority": "优先级",
        "linked_to": "已合并至",
        "status_open": "处理中",
        "status_pending": "待客户回复",
        "status_resolved": "已解决",
        "status_unknown": "未知",
        "details_found": "已识别的信息",
        "details_missing": "仍缺少",
        "other_cases": "该客户的其他工单",
        "no_other_cases": "无。",
        "review_category": "请核对类别",
        "images_blocked": "已拦截 {n} 张远程图片：加载它们会让发件人知道邮件已被阅读。",
        "show_images": "显示图片",
        "mail_html": "邮件原始排版",
        "text_version": "纯文本版本",
        "transcript": "语音转写",
        "recording_length": "录音时长",
        "hosted_by_provider": "由服务商保存",
        "file_not_kept": "未保存该文件内容（超过大小上限，或由服务商保存）。",
        "file_not_found": "此工单中没有该文件。",
        "file_gone": "该文件已不再保存（已删除或超过保留期限）。",
        "inline": "内嵌",
        "routing_trace": "路由：分派原因",
        "reply_answer": "我们的回复",
        "reply_acknowledgement": "自动确认回复",
        "reply_survey": "满意度调查",
        "reply_automatic": "自动回复",
        "state_queued": "排队中",
        "state_sent": "已发送",
        "state_delivered": "已送达",
        "state_failed": "发送失败",
        "reply": "回复",
        "send_reply": "发送回复",
        "reply_goes_pending": "发送后工单将等待客户回复（待客户回复）。",
        "reply_empty": "请先填写回复内容。",
        "resolve": "标记为已解决",
        "done_answered": "回复已进入发送队列；工单等待客户回复。",
        "done_answered_newer": "回复已进入发送队列；期间客户又发来消息，工单保持处理中。",
        "done_resolved": "工单已解决；满意度调查随后发出。",
        "case_not_found": "没有匹配的工单。",
        "case_forbidden": "该工单不在您的队列中。",
        "case_ambiguous": "匹配到多个工单：请通过工单编号打开其中一个。",
        "case_unavailable": "暂时无法连接客服系统的存储，请稍后再试。",
        "case_choose": "匹配到多个工单",
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
