"""Every user-facing string of the bot (Simplified Chinese). Handlers never inline Chinese text.

Strings are plain text; render.py escapes them for Telegram HTML. Placeholders use str.format.
"""

from __future__ import annotations

# ---------------------------------------------------------------- general
GREETING = (
    "您好，{name}！这里是「政企直通车」。\n"
    "直接发文字提问即可，例如：\n"
    "· 开饭店要办什么证？找哪个部门？\n"
    "· 营业执照地址变更要带什么材料？\n"
    "我会告诉您找谁办、怎么办，并注明依据。\n"
    "按正常渠道办不成的事，可以点「转人工（办不成事）」或发送 /desk，由服务专员限时跟进。\n\n"
    "常用命令：/register 登记企业信息　/mytickets 我的工单　/desk 反映办不成的事　/help 帮助"
)
GREETING_REGISTERED = "已登记企业：{company}。"
GREETING_COMMISSIONER = "您的服务专员：{commissioner}。"
HELP = GREETING
STAFF_HELP = (
    "工作人员命令：/queue 待办工单　/overdue 超期工单。\n"
    "在工单话题里直接发消息，即转给企业；按钮可认领、转派、要求补充材料、办结、升级。"
)
ADMIN_HELP = (
    "管理员：直接发送政策文件（.pdf .docx .txt .md .html）或联络簿表格（.csv .xlsx .yaml），"
    "机器人会下载、增量入库并回报变化。/reindex 重新索引　/kb 知识库概况　/stats 使用统计　/push 审核政策推送"
)

BUSY = "系统繁忙，请稍后再试。"
ERROR_GENERIC = "抱歉，处理您的消息时出错了（错误编号 {error_id}）。请稍后再试；如多次出现，请把编号告诉工作人员。"
NOT_TEXT = "暂时只能看懂文字消息。请用文字描述您的问题，例如「开餐馆要办哪些证」。"
NOT_TEXT_IN_STEP = "这一步需要文字回答，请直接输入文字（或发送 /cancel 取消）。"
FLOOD = "您发送消息过于频繁，请稍等 {seconds} 秒再发。这段时间里多发的消息不会处理，请稍后重新发送。"
BAD_CALLBACK = "这个按钮已失效或无法识别，请重新操作。"
UNKNOWN_COMMAND = "没有这个命令。有问题直接用文字提问即可，例如「开餐馆要办哪些证」。可用的命令：\n{menu}"
EDIT_IGNORED = "修改过的消息不会重新处理。如需更正，请把修改后的内容作为新消息发送。"
CANCELLED = "已取消。有问题随时直接发文字提问。"
NOTHING_TO_CANCEL = "当前没有进行中的操作。"
QUESTION_TOO_LONG = "问题太长了（{length} 字）。请用 {limit} 字以内说明要办的事，详细情况可转人工后补充。"
QUESTION_EMPTY = "没看到文字内容。请用文字描述您要办的事。"

# ---------------------------------------------------------------- registration
REG_ASK_NAME = "开始登记企业信息（随时发送 /cancel 取消）。\n第 1 步：请输入企业名称。"
REG_ASK_CODE = "第 2 步：请输入 18 位统一社会信用代码。"
REG_BAD_CODE = "统一社会信用代码不正确：{error}\n请重新输入，或发送 /cancel 取消。"
REG_ASK_INDUSTRY = "第 3 步：请输入所属行业（如：餐饮、制造业、软件）。"
REG_ASK_CONTACT = "第 4 步：请输入联系人和电话，例如：张三 13800000000；也可以点下方按钮发送本账号的手机号。"
BTN_SHARE_CONTACT = "📱 发送我的手机号"
REG_BAD_CONTACT = "请同时写联系人姓名和电话，例如：张三 13800000000"
REG_DONE = "登记完成：{company}（{code}）。"
REG_FAILED = "登记没有成功：{error}"
REG_EXPIRED = "之前没有完成的企业登记已超时作废；您的这条消息按新消息处理。需要时可重新发送 /register。"
REG_FIELD_TOO_LONG = "内容太长，请控制在 {limit} 字以内。"

# ---------------------------------------------------------------- answers
ANSWER_SOURCES = "依据"
ANSWER_ROUTE = "您反映的情况可以转给服务专员限时处理：点「转人工（办不成事）」即可提交。"
ANSWER_ROUTE_UNCOVERED = "服务联络簿和政策文件中没有找到负责这件事的部门。可以点「转人工（办不成事）」，由服务专员帮您找到承办部门。"
ANSWER_ROUTE_REASON = "原因：{reason}"
ANSWER_FOOTER = "这个回答对您有用吗？"
BTN_USEFUL = "👍 有用"
BTN_USELESS = "👎 没用"
BTN_ESCALATE = "转人工（办不成事）"
BTN_MATERIALS = "查看材料清单"
FEEDBACK_THANKS_UP = "感谢反馈！"
FEEDBACK_THANKS_DOWN = "感谢反馈，我们会改进。如果事情办不成，可以点「转人工（办不成事）」。"
FEEDBACK_NOT_YOURS = "只能评价自己提的问题。"
MATERIALS_TITLE = "「{title}」所需材料"
MATERIALS_NONE = "资料中没有列出这项事项的材料清单，建议致电办理部门确认。"
MATERIALS_PHONE = "咨询电话：{phone}"
KNOWLEDGE_NOT_READY = "知识库正在加载，请稍后再问。"

# Labels of the structured card fields (service / department).
SERVICE_FIELDS: tuple[tuple[str, str], ...] = (
    ("department", "办理部门"),
    ("window", "窗口/地址"),
    ("address", "地址"),
    ("phone", "电话"),
    ("materials", "材料"),
    ("time_limit", "时限"),
    ("steps", "流程"),
    ("fee", "收费"),
    ("legal_basis", "依据"),
    ("online", "线上入口"),
)

# ---------------------------------------------------------------- escalation intake
ESC_ASK_MATTER = (
    "转人工：服务专员会在工作时间内限时受理。随时发送 /cancel 取消。\n"
    "第 1 步：请说明是哪件事（办什么事项、找的哪个部门）。"
)
ESC_ASK_MATTER_WITH_Q = ESC_ASK_MATTER + "\n可以直接点下面的按钮，沿用您刚才的问题：\n「{question}」"
BTN_USE_QUESTION = "就是刚才这个问题"
ESC_ASK_REASON = "第 2 步：卡在哪里？请选择卡点："
REASON_LABELS: tuple[tuple[str, str], ...] = (
    ("材料", "材料（反复要材料、材料说不清）"),
    ("政策", "政策（政策不明确、不会用）"),
    ("跨部门", "跨部门（部门之间互相推诿）"),
    ("超时", "超时（拖了很久没人管）"),
    ("态度", "态度（工作人员态度差）"),
    ("其他", "其他"),
)
ESC_ASK_DETAIL = "第 3 步：请简要描述经过（在哪个窗口、卡在哪一步、已经跑了几次）。"
ESC_CONFIRM = "请确认提交：\n事项：{matter}\n卡点：{reason}\n经过：{detail}"
BTN_CONFIRM = "✅ 确认提交"
BTN_CANCEL = "取消"
ESC_EXPIRED = "之前没有完成的转人工登记已超时作废；您的这条消息按新消息处理。需要时可重新发送 /desk。"
ESC_PICK_BUTTON = "请点上面的按钮选择，或发送 /cancel 取消。"
ESC_CREATED = (
    "已受理登记，工单号 {number}。\n状态：{state}\n受理时限：{accept_due}\n办结时限：{resolve_due}\n"
    "专员接手后会通过本对话联系您；之后您在这里发的消息都会转给专员。/mytickets 可查看进度。"
)
ESC_FAILED = "工单没有提交成功：{error}"
ESC_ALREADY_OPEN = (
    "您已有未办结的工单 {number}：{title}\n状态：{state}{due}\n"
    "直接在这里发消息即可转给专员。如果是另一件办不成的事，请点下面的按钮另行反映。"
)
ESC_ALREADY_OPEN_DUE = "，办结时限 {due}"
BTN_NEW_MATTER = "另一件事，重新反映"
BTN_FORWARD = "转给专员"
ANSWERED_NOT_RELAYED = "（您有未办结的工单 {number}。这条消息看起来是新的咨询，已直接回答，没有转给专员；如是给专员的，请点“转给专员”。）"

# ---------------------------------------------------------------- tickets (enterprise side)
MYTICKETS_EMPTY = "您还没有工单。办不成的事可以发送 /desk 反映。"
MYTICKETS_TITLE = "您的工单："
MYTICKETS_LINE = "{number}　{title}　{state}{due}"
MYTICKETS_DUE = "（办结时限 {due}）"
RELAYED_TO_STAFF = "已转给工单 {number} 的服务专员。"
RELAYED_ATTACHMENT = "{kind}已转给工单 {number} 的服务专员。"
ATTACHMENT_KEPT = "{kind}暂时没能转给专员（已记下您发过附件）。请稍后重新发送，或用文字说明内容。"
# The desk's record of an attachment (what the other side reads, and the ticket's transcript keeps).
ATTACHMENT_NOTE = "〔{kind}〕{caption}"
ATTACHMENT_NOT_COPIED = "（附件未能转到此处，请联系企业重新提供）"
ATTACHMENT_TO_ENTERPRISE_FAILED = "{kind}没能发给企业：{error}（已记入工单）"
ATTACHMENT_COPY_UNSUPPORTED = "暂时无法转发附件"
ENTERPRISE_NOT_ON_TELEGRAM = "该工单不是企业通过机器人提交的，请用电话等方式联系企业"
ATTACHMENT_KINDS = {"photo": "图片", "document": "文件", "video": "视频", "voice": "语音", "audio": "音频",
                    "video_note": "视频消息"}
RELAY_NOT_TEXT = "这类消息无法转交。请用文字说明，材料可以拍照或作为文件发送，会转给专员。"
FROM_STAFF = "【工单 {number} · {who}】\n{text}"
STAFF_ANON = "服务专员"
RATE_PROMPT = "工单 {number} 已办结，请评价办理结果："
RATE_LABELS: tuple[tuple[str, str], ...] = (("s", "满意"), ("b", "基本满意"), ("u", "不满意"))
RATE_THANKS = "感谢评价：{score}。"
RATE_UNHAPPY = "已记录「不满意」，工单已重新办理，专员会回访您。"
RATE_COMMENT_PROMPT = "如有意见或建议，请在 {minutes} 分钟内直接回复一条文字消息；不需要请发送 /skip。"
RATE_COMMENT_PROMPT_UNHAPPY = "请告诉我们还有哪些问题没有解决（{minutes} 分钟内直接回复文字即可），我们会转给服务专员；不需要请发送 /skip。"
RATE_COMMENT_SAVED = "已记录您对工单 {number} 的评价意见，谢谢！"
RATE_COMMENT_RELAYED = "已记录您的意见，并转给工单 {number} 的服务专员。"
RATE_COMMENT_SKIPPED = "好的，不填写评价意见。"
NOTHING_TO_SKIP = "当前没有可以跳过的步骤。"
ASK_HINT_WITH_TICKET = "提示：您有未办结的工单，文字消息会转给专员。如要咨询其他问题，请发送 /ask 问题。"

# ---------------------------------------------------------------- staff side
STAFF_ONLY = "抱歉，这个功能只对登记的服务专员开放。"
NOTE_SAVED = "已记为工单 {number} 的内部备注（仅工作人员可见，不会发给企业）。"
NOTE_USAGE = "用法：在工单话题里发送 /note 备注内容（内部备注不会发给企业）。"
NOTE_WHERE = "请在工单的话题里（或回复工单消息）使用 /note，以便记到对应工单。"
ADMIN_ONLY = "抱歉，这个功能只对管理员开放。"
NOT_YOUR_DEPARTMENT = "这张工单不在您负责的部门范围内。"
TICKET_CARD = (
    "工单 {number}　{state}\n"
    "企业：{enterprise}\n"
    "事项：{title}\n"
    "部门：{department}\n"
    "卡点：{reason}\n"
    "受理时限：{accept_due}\n"
    "办结时限：{resolve_due}\n"
    "承办：{assignee}\n\n"
    "企业描述：{description}"
)
TRANSCRIPT_TITLE = "对话记录："
TOPIC_NAME = "{number} {title}"
BTN_CLAIM = "认领"
BTN_TRANSFER = "转派"
BTN_NEED = "需企业补充"
BTN_RESOLVE = "办结"
BTN_UPGRADE = "升级"
CLAIMED = "{who} 已认领工单 {number}。"
ASK_NEED_NOTE = "请在本话题回复需要企业补充的材料（下一条消息会发给企业），或发送 /cancel 取消。"
BTN_FOLLOWUP = "记录回访"
ASK_FOLLOWUP_NOTE = "请在本话题回复回访情况（与企业沟通了什么、企业的意见），下一条消息将记入回访记录；或发送 /cancel 取消。"
NO_OPEN_FOLLOWUP = "工单 {number} 没有待完成的回访任务（可能已记录，或已随工单销号关闭）。"
ASK_RESOLVE_NOTE = "请在本话题回复办结说明（下一条消息作为办结说明并通知企业），或发送 /cancel 取消。"
ASK_UPGRADE_NOTE = "请在本话题回复升级原因（下一条消息作为升级原因），或发送 /cancel 取消。"
PICK_TRANSFER = "转派给："
NO_TRANSFER_TARGET = "没有负责该部门的其他专员或领导可交办；如需交办给其他部门的人员，请在网页工作台操作。"
NO_COLLEAGUE = "没有与您同部门、可接手这张工单的其他专员；需要其他部门办理，请点「升级」由领导交办。"
ACTION_DONE = "已处理：{what}（工单 {number}，状态：{state}）。"
FROM_ENTERPRISE = "【企业 {enterprise}】\n{text}"
NOT_A_TICKET_TOPIC = "这里不是工单话题；请在对应工单的话题里回复。"
STAFF_RELAYED = "已转给企业。"
QUEUE_EMPTY = "没有待办工单。"
QUEUE_TITLE = "待办工单（{count}）："
OVERDUE_EMPTY = "没有超期工单。"
OVERDUE_TITLE = "超期工单（{count}）："
QUEUE_LINE = "{number}　{state}　{department}　{title}　{assignee}{due}"
QUEUE_DUE = "　时限 {due}"
UNASSIGNED = "未分配"
STAFF_GROUP_MISSING = "未配置专员工作群（telegram.staff_group_id），工单已保存，可用 zhitong desk 命令处理。"

# ---------------------------------------------------------------- admin side
UPLOAD_NOT_ADMIN = "抱歉，只有管理员可以上传政策文件或联络簿。如需咨询，请直接用文字提问。"
UPLOAD_UNSUPPORTED = "不支持的文件类型「{ext}」。支持：{allowed}。"
UPLOAD_TOO_LARGE = "文件太大（{size:.1f} MB），上限 {limit:.0f} MB。请拆分后再上传。"
UPLOAD_RECEIVED = "已收到「{name}」，正在下载……"
UPLOAD_PROGRESS = "正在入库「{name}」（第 {done}/{total} 个文件）……"
UPLOAD_PROGRESS_DONE = "{total} 个文件已处理完毕，正在重新加载知识库……"
UPLOAD_BUSY = "另一次入库正在进行，请稍后再试。"
UPLOAD_FAILED = "入库失败：{error}。知识库未改变。"
UPLOAD_DOWNLOAD_FAILED = "下载文件失败：{error}。知识库未改变。"
UPLOAD_REPORT = "入库完成：\n{summary}"
REINDEX_START = "开始重新索引已上传的文件……"
REINDEX_EMPTY = "还没有上传过文件，无需重新索引。"
KB_TEXT = (
    "知识库概况：\n"
    "部门：{departments} 个（部门及科室记录 {department_records} 条）\n"
    "服务事项：{services} 项\n"
    "政策片段：{policies} 段{not_current}\n"
    "文件：{files}\n"
    "向量：{vectors} 条（嵌入模型 {embedder}）\n"
    "最近入库：{last_ingest}"
)
KB_NOT_CURRENT = "（另有 {count} 段已失效、被替代或尚未生效，不引用）"
STATS_TEXT = (
    "使用统计（近 {days} 天）：\n"
    "提问 {asked} 次，其中直接回答 {answered} 次，转人工 {routed} 次（含主动转人工 {escalated} 次）\n"
    "反馈：有用 {up}，没用 {down}（没用率 {down_rate}）\n"
    "工单：{tickets}\n\n"
    "本周未解决的问题："
)
STATS_NONE = "（无）"

# ---------------------------------------------------------------- 惠企政策直达
PROFILE_CARD = (
    "企业画像（用于推送适用的惠企政策）：\n"
    "行业：{industry}\n规模：{size}\n区县：{district}\n标签：{tags}\n"
    "政策推送：{consent}"
)
PROFILE_UNSET = "未填"
PROFILE_CONSENT_YES = "已订阅（{when} 同意）"
PROFILE_CONSENT_NO = "未订阅"
PROFILE_ASK = ("为了把适用的惠企政策直接推送给您，请点按钮完善企业画像，并选择是否接收政策推送。"
               "可以跳过，之后随时发送 /profile 修改。")
PROFILE_NOT_REGISTERED = "请先发送 /register 登记企业，再设置企业画像和政策推送。"
PROFILE_DONE = "已保存。需要修改时发送 /profile；退订发送 /unsubscribe。"
PROFILE_PICK = "请选择{field}："
PROFILE_DISTRICT_FREE = "请发送 /district 加区县名称，例如：/district 东城区"
PROFILE_DISTRICT_SET = "区县已设为：{district}"
BTN_PROFILE_INDUSTRY = "行业"
BTN_PROFILE_SIZE = "规模"
BTN_PROFILE_DISTRICT = "区县"
BTN_PROFILE_TAGS = "企业标签"
BTN_PROFILE_DONE = "完成"
BTN_PROFILE_BACK = "返回"
BTN_PROFILE_CLEAR = "不填"
BTN_PUSH_AGREE = "✅ 接收政策推送"
BTN_PUSH_STOP = "停止政策推送"
SUBSCRIBED = "已订阅惠企政策推送：符合您企业画像的新政策会直接发给您（每周最多 {per_week} 条，工作时间发送）。发送 /unsubscribe 可随时退订。"
UNSUBSCRIBED = "已退订惠企政策推送，不会再收到推送。需要时发送 /subscribe 重新订阅。"
BTN_PUSH_MORE = "详细了解"
BTN_PUSH_NA = "不适用"
BTN_PUSH_APPLIED = "已申报"
BTN_PUSH_UNSUB = "退订"
BTN_PUSH_APPROVE = "✅ 批准发送"
BTN_PUSH_DISCARD = "放弃"
PUSH_ASK_REASON = "请选择不适用的原因："
PUSH_THANKS_REASON = "已记录：{reason}。谢谢反馈，我们会据此改进推送。"
PUSH_THANKS_APPLIED = "已记录您已申报，之后不再提醒。"
PUSH_MORE_QUESTION = "《{title}》怎么申请？需要什么条件和材料？"
PUSH_ADMIN_NONE = "没有待审核的政策推送。"
PUSH_ADMIN_LIST = "待审核的政策推送（点按钮查看对象、人数和推送原文）："
PUSH_ADMIN_NEW = "有 {n} 个新政策待审核推送：\n{titles}\n发送 /push 查看并审核。"
PUSH_ADMIN_REVIEW = (
    "政策推送 #{id}：《{title}》（{department}）\n"
    "推送对象（{origin}）：{audience}\n"
    "{unknown}"
    "匹配的已订阅企业：{matched} 家（{reasons}）\n"
    "匹配但未订阅：{not_subscribed} 家；匹配但无法送达：{unreachable} 家\n\n"
    "推送原文：\n{sample}\n\n"
    "修改推送对象：/push_audience {id} 行业=…；规模=…；区县=…；标签=…"
)
PUSH_ORIGIN = {"front_matter": "文件声明", "proposed": "系统根据正文建议，请确认", "admin": "管理员修改"}
PUSH_UNKNOWN_TERMS = "⚠ 未识别的名称（不会匹配任何企业）：{terms}\n"
PUSH_APPROVED = "已批准政策推送 #{id}：{n} 家企业将在工作时间内陆续收到。"
PUSH_DISCARDED = "已放弃政策推送 #{id}，不会发送。"
PUSH_AUDIENCE_USAGE = "用法：/push_audience 编号 行业=住宿和餐饮业；规模=小型,微型；区县=；标签="
PUSH_AUDIENCE_SET = "已修改推送对象，请重新查看后批准："

# ---------------------------------------------------------------- bot command menu
COMMANDS_ENTERPRISE: tuple[tuple[str, str], ...] = (
    ("start", "开始使用"),
    ("register", "登记企业信息"),
    ("ask", "咨询问题"),
    ("desk", "反映办不成的事"),
    ("mytickets", "我的工单"),
    ("profile", "企业画像与政策推送"),
    ("subscribe", "订阅惠企政策推送"),
    ("unsubscribe", "退订政策推送"),
    ("cancel", "取消当前操作"),
    ("help", "帮助"),
)
COMMANDS_STAFF: tuple[tuple[str, str], ...] = (
    ("queue", "待办工单"),
    ("overdue", "超期工单"),
    ("note", "内部备注（不发给企业）"),
    ("cancel", "取消当前操作"),
)
