// The eight sections of the Analytics page, one component each, on the API's
// /api/v1/analytics/* answers (types generated from openapi.yaml).
import { useMemo } from "react";
import type { Schemas } from "../../api/client";
import type { ChartSpec } from "./Chart";
import { CsvButton, DataTable, Figure, fmt, Section, Stats, useAnalytics, type Column, type Query } from "./parts";
import { longDate, periodLabel } from "./range";

type Activity = Schemas["AnalyticsActivity"];
type ActivityRow = Activity["series"][number];
type Responsiveness = Schemas["AnalyticsResponsiveness"];
type ResponsivenessRow = Responsiveness["series"][number];
type Gaps = Schemas["AnalyticsKnowledgeGaps"];
type Gap = Gaps["gaps"][number];
type Cited = Gaps["most_cited"][number];
type Retention = Schemas["AnalyticsRetention"];
type Cohort = Retention["cohorts"][number];
type Campaigns = Schemas["AnalyticsCampaigns"];
type CampaignRow = Campaigns["campaigns"][number];
type OccurrenceRow = Campaigns["occurrences"][number];
type Programs = Schemas["AnalyticsPrograms"];
type StepRow = Programs["steps"][number];
type Channels = Schemas["AnalyticsChannels"];
type ChannelsRow = Channels["series"][number];
type ProviderError = Channels["errors"][number];
type Team = Schemas["AnalyticsTeam"];
type TeamRow = Team["series"][number];
type Member = Team["members"][number];

export interface SectionProps {
  query: Query | null;
  /** "2026-11-06_2026-12-05", for file names. */
  span: string;
}

const base = "/api/v1/analytics/";
const periodCol = <R extends { period: string }>(week: boolean): Column<R> => ({
  label: week ? "Week of" : "Day",
  cell: (r) => <time dateTime={r.period}>{longDate(r.period)}</time>,
});
const isWeek = (q: Query | null) => q?.granularity === "week";
const csvFile = (section: string, table: string, span: string) => `coachwire-${section}-${table}-${span}.csv`;

// 1. Activity
export function ActivitySection({ query, span }: SectionProps) {
  const path = base + "activity";
  const [load, retry] = useAnalytics<Activity>(path, query);
  const week = isWeek(query);
  return (
    <Section
      id="activity"
      title="Activity"
      intro="Conversations, messages and the people writing to your coach."
      load={load}
      retry={retry}
      empty={(d) => d.totals.messages_in + d.totals.messages_out === 0}
      emptyText="No messages in this range yet. Activity appears here as soon as people talk to your coach."
    >
      {(d) => <ActivityBody d={d} week={week} path={path} query={query!} span={span} />}
    </Section>
  );
}

function ActivityBody({ d, week, path, query, span }: { d: Activity; week: boolean; path: string; query: Query; span: string }) {
  const labels = useMemo(() => d.series.map((r) => periodLabel(r.period)), [d]);
  const messages: ChartSpec = useMemo(
    () => ({
      kind: "bar",
      labels,
      series: [
        { label: "Messages in", data: d.series.map((r) => r.messages_in) },
        { label: "Messages out", data: d.series.map((r) => r.messages_out) },
      ],
    }),
    [d, labels],
  );
  const users: ChartSpec = useMemo(
    () => ({
      kind: "line",
      labels,
      series: [
        { label: week ? "Active this week" : "Active this day", data: d.series.map((r) => r.active_users) },
        { label: "Active in 7 days", data: d.series.map((r) => r.active_users_7d) },
        { label: "Active in 30 days", data: d.series.map((r) => r.active_users_30d) },
        { label: "New", data: d.series.map((r) => r.new_users) },
        { label: "Returning", data: d.series.map((r) => r.returning_users) },
      ],
    }),
    [d, labels, week],
  );
  const t = d.totals;
  const cols: Column<ActivityRow>[] = [
    periodCol(week),
    { label: "Conversations", num: true, cell: (r) => fmt.int(r.conversations) },
    { label: "Messages in", num: true, cell: (r) => fmt.int(r.messages_in) },
    { label: "Messages out", num: true, cell: (r) => fmt.int(r.messages_out) },
    { label: "Active", num: true, cell: (r) => fmt.int(r.active_users) },
    { label: "Active 7 d", num: true, cell: (r) => fmt.int(r.active_users_7d) },
    { label: "Active 30 d", num: true, cell: (r) => fmt.int(r.active_users_30d) },
    { label: "New", num: true, cell: (r) => fmt.int(r.new_users) },
    { label: "Returning", num: true, cell: (r) => fmt.int(r.returning_users) },
    { label: "Median messages per conversation", num: true, cell: (r) => fmt.dec(r.median_messages_per_conversation) },
  ];
  const table = { columns: cols, rows: d.series, rowKey: (r: ActivityRow) => r.period };
  const csv = <CsvButton path={path} query={query} table="series" label="activity" file={csvFile("activity", "series", span)} />;
  return (
    <>
      <Stats
        items={[
          { label: "Conversations", value: fmt.int(t.conversations) },
          { label: "Messages in", value: fmt.int(t.messages_in) },
          { label: "Messages out", value: fmt.int(t.messages_out) },
          { label: "Active people", value: fmt.int(t.active_users) },
          { label: "New people", value: fmt.int(t.new_users) },
          { label: "Returning people", value: fmt.int(t.returning_users) },
          { label: "Median messages per conversation", value: fmt.dec(t.median_messages_per_conversation) },
        ]}
      />
      <Figure title="Messages in and out" chart={messages} table={table} csv={csv} />
      <Figure title="Active, new and returning people" chart={users} table={table} />
    </>
  );
}

// 2. Responsiveness
export function ResponsivenessSection({ query, span }: SectionProps) {
  const path = base + "responsiveness";
  const [load, retry] = useAnalytics<Responsiveness>(path, query);
  const week = isWeek(query);
  return (
    <Section
      id="responsiveness"
      title="Responsiveness"
      intro="How fast your coach answers: from a person's message to the first streamed words and to the finished reply."
      load={load}
      retry={retry}
      empty={(d) => d.totals.turns + d.totals.llm_errors + d.totals.dead_lettered === 0}
      emptyText="No answered messages in this range yet."
    >
      {(d) => <ResponsivenessBody d={d} week={week} path={path} query={query!} span={span} />}
    </Section>
  );
}

function ResponsivenessBody({ d, week, path, query, span }: { d: Responsiveness; week: boolean; path: string; query: Query; span: string }) {
  const chart: ChartSpec = useMemo(
    () => ({
      kind: "line",
      labels: d.series.map((r) => periodLabel(r.period)),
      format: (v) => fmt.ms(v),
      series: [
        { label: "First words, median", data: d.series.map((r) => r.first_token_p50_ms) },
        { label: "First words, p95", data: d.series.map((r) => r.first_token_p95_ms) },
        { label: "Full reply, median", data: d.series.map((r) => r.final_reply_p50_ms) },
        { label: "Full reply, p95", data: d.series.map((r) => r.final_reply_p95_ms) },
      ],
    }),
    [d],
  );
  const t = d.totals;
  const cols: Column<ResponsivenessRow>[] = [
    periodCol(week),
    { label: "Answers", num: true, cell: (r) => fmt.int(r.turns) },
    { label: "First words p50", num: true, cell: (r) => fmt.ms(r.first_token_p50_ms) },
    { label: "First words p95", num: true, cell: (r) => fmt.ms(r.first_token_p95_ms) },
    { label: "Full reply p50", num: true, cell: (r) => fmt.ms(r.final_reply_p50_ms) },
    { label: "Full reply p95", num: true, cell: (r) => fmt.ms(r.final_reply_p95_ms) },
    { label: "LLM errors", num: true, cell: (r) => fmt.int(r.llm_errors) },
    { label: "Passages answers", num: true, cell: (r) => fmt.int(r.passages_answers) },
    { label: "Dead-lettered", num: true, cell: (r) => fmt.int(r.dead_lettered) },
  ];
  return (
    <>
      <Stats
        items={[
          { label: "Answers", value: fmt.int(t.turns) },
          { label: "First words", value: fmt.ms(t.first_token_p50_ms), hint: `median · p95 ${fmt.ms(t.first_token_p95_ms)}` },
          { label: "Full reply", value: fmt.ms(t.final_reply_p50_ms), hint: `median · p95 ${fmt.ms(t.final_reply_p95_ms)}` },
          { label: "LLM errors", value: fmt.int(t.llm_errors) },
          { label: "Answered from passages", value: fmt.int(t.passages_answers), hint: "without the language model" },
          { label: "Dead-lettered", value: fmt.int(t.dead_lettered), hint: "given up after retries" },
        ]}
      />
      <Figure
        title="Time to first words and to the full reply"
        chart={chart}
        table={{ columns: cols, rows: d.series, rowKey: (r) => r.period }}
        csv={<CsvButton path={path} query={query} table="series" label="responsiveness" file={csvFile("responsiveness", "series", span)} />}
      />
    </>
  );
}

// 3. Knowledge gaps
const gapReasons: Record<string, string> = {
  no_passage: "no matching passage",
  not_found: "“couldn't find” reply",
  takeover: "taken over after the answer",
};

export function GapsSection({ query, span, onOpenConversation }: SectionProps & { onOpenConversation: (id: string, label: string) => void }) {
  const path = base + "knowledge-gaps";
  const [load, retry] = useAnalytics<Gaps>(path, query);
  return (
    <Section
      id="knowledge-gaps"
      title="Knowledge gaps"
      intro="Questions your coach could not answer well, near-identical ones together, most asked first: write new material for these. Below, the documents cited most and never."
      load={load}
      retry={retry}
      empty={(d) => d.gaps.length === 0 && d.most_cited.length === 0 && d.never_cited.length === 0}
      emptyText="No questions in this range yet."
    >
      {(d) => <GapsBody d={d} path={path} query={query!} span={span} onOpen={onOpenConversation} />}
    </Section>
  );
}

function GapsBody({ d, path, query, span, onOpen }: { d: Gaps; path: string; query: Query; span: string; onOpen: (id: string, label: string) => void }) {
  const cited: ChartSpec = useMemo(
    () => ({
      kind: "bar",
      horizontal: true,
      labels: d.most_cited.slice(0, 10).map((c) => (c.section ? `${c.title} › ${c.section}` : c.title)),
      series: [{ label: "Answers citing it", data: d.most_cited.slice(0, 10).map((c) => c.citations) }],
    }),
    [d],
  );
  const gapCols: Column<Gap>[] = [
    {
      label: "Question",
      cell: (g) => (g.question ? <span className="gap-question">{g.question}</span> : <span className="hint">Hidden: your role cannot read messages</span>),
    },
    { label: "Times asked", num: true, cell: (g) => fmt.int(g.count) },
    { label: "Why", cell: (g) => fmt.counts(g.reasons, gapReasons) },
    { label: "Last asked", cell: (g) => <time dateTime={g.last_at}>{new Date(g.last_at).toLocaleString()}</time> },
    {
      label: "Conversations",
      cell: (g) => (
        <ul className="gap-examples">
          {g.examples.map((e, i) => (
            <li key={e.message_id ?? e.conversation_id + i}>
              <button
                type="button"
                className="button link"
                data-conversation={e.conversation_id}
                onClick={() => onOpen(e.conversation_id, e.text ?? g.question ?? "")}
              >
                Conversation {e.conversation_id.slice(0, 8)}
                <span className="visually-hidden"> from {new Date(e.at).toLocaleString()}</span>
              </button>
            </li>
          ))}
        </ul>
      ),
    },
  ];
  const docCols: Column<Cited>[] = [
    { label: "Document", cell: (c) => c.title },
    { label: "Section", cell: (c) => c.section || "whole document" },
    { label: "Answers citing it", num: true, cell: (c) => fmt.int(c.citations) },
  ];
  const citedKey = (c: Cited, i: number) => `${c.document_id}/${c.section ?? ""}/${i}`;
  return (
    <>
      <div className="subhead">
        <h3>Unanswered questions</h3>
        <CsvButton path={path} query={query} table="gaps" label="unanswered questions" file={csvFile("knowledge-gaps", "gaps", span)} />
      </div>
      {d.gaps.length === 0 ? (
        <p className="empty section-empty">Every question in this range found an answer.</p>
      ) : (
        <DataTable caption="Unanswered questions, most asked first" className="gaps" columns={gapCols} rows={d.gaps} rowKey={(g) => g.key} />
      )}
      <div className="subhead">
        <h3>Documents</h3>
        <CsvButton path={path} query={query} table="documents" label="documents cited" file={csvFile("knowledge-gaps", "documents", span)} />
      </div>
      {d.most_cited.length > 0 ? (
        <Figure
          title="Cited most"
          chart={cited}
          height={Math.max(160, 36 * Math.min(10, d.most_cited.length) + 60)}
          table={{ columns: docCols, rows: d.most_cited, rowKey: citedKey }}
        />
      ) : (
        <p className="hint">No answer in this range cited a document.</p>
      )}
      {d.never_cited.length > 0 ? (
        <DataTable
          caption="Never cited in this range"
          columns={docCols.slice(0, 2)}
          rows={d.never_cited}
          rowKey={citedKey}
        />
      ) : (
        <p className="hint">Every ready document was cited at least once.</p>
      )}
    </>
  );
}

// 4. Retention
export function RetentionSection({ query, span }: SectionProps) {
  const path = base + "retention";
  const [load, retry] = useAnalytics<Retention>(path, query);
  return (
    <Section
      id="retention"
      title="Retention"
      intro="Weekly cohorts by first contact: of the people who first wrote in a week, the share still talking 1 to 8 weeks later."
      load={load}
      retry={retry}
      empty={(d) => d.cohorts.every((c) => c.users === 0)}
      emptyText="No one wrote for the first time in this range."
    >
      {(d) => <RetentionBody d={d} path={path} query={query!} span={span} />}
    </Section>
  );
}

const weeks = [1, 2, 3, 4, 5, 6, 7, 8];

function RetentionBody({ d, path, query, span }: { d: Retention; path: string; query: Query; span: string }) {
  const cohorts = d.cohorts.filter((c) => c.users > 0);
  // The curve of all cohorts together, weighted by their size (weeks not over yet left out).
  const chart: ChartSpec = useMemo(() => {
    const avg = weeks.map((_, w) => {
      let users = 0,
        active = 0;
      for (const c of cohorts) {
        const share = c.weeks[w];
        if (share === null || share === undefined) continue;
        users += c.users;
        active += share * c.users;
      }
      return users ? active / users : null;
    });
    return {
      kind: "line",
      labels: weeks.map((w) => `Week ${w}`),
      format: (v) => fmt.pct(v),
      series: [{ label: "Share still talking, all cohorts", data: avg }],
    };
  }, [cohorts]);
  const cols: Column<Cohort>[] = [
    { label: "Cohort (week of)", cell: (c) => <time dateTime={c.cohort}>{longDate(c.cohort)}</time> },
    { label: "People", num: true, cell: (c) => fmt.int(c.users) },
    ...weeks.map(
      (w): Column<Cohort> => ({
        label: `Week ${w}`,
        num: true,
        cell: (c) => {
          const v = c.weeks[w - 1];
          return (
            <span className="heat" data-level={v === null || v === undefined ? "none" : Math.min(4, Math.ceil(v * 4))}>
              {v === null || v === undefined ? "–" : fmt.pct(v)}
            </span>
          );
        },
      }),
    ),
  ];
  const avgCols: Column<{ week: number; share: number | null }>[] = [
    { label: "Week", cell: (r) => `Week ${r.week}` },
    { label: "Share still talking", num: true, cell: (r) => fmt.pct(r.share) },
  ];
  return (
    <>
      <Figure
        title="Share still talking, all cohorts"
        chart={chart}
        height={220}
        table={{ columns: avgCols, rows: weeks.map((w, i) => ({ week: w, share: chart.series[0].data[i] })), rowKey: (r) => String(r.week) }}
      />
      <div className="subhead">
        <h3>Cohorts</h3>
        <CsvButton path={path} query={query} table="cohorts" label="cohorts" file={csvFile("retention", "cohorts", span)} />
      </div>
      <DataTable caption="Share of each cohort still talking, by week after first contact" className="cohorts" columns={cols} rows={cohorts} rowKey={(c) => c.cohort} />
    </>
  );
}

// 5. Campaigns
export function CampaignsSection({ query, span }: SectionProps) {
  const path = base + "campaigns";
  const [load, retry] = useAnalytics<Campaigns>(path, query);
  return (
    <Section
      id="campaigns"
      title="Campaigns"
      intro="What each campaign and each of its sends did: who it reached, what was held or skipped and why, and how people answered."
      load={load}
      retry={retry}
      empty={(d) => d.campaigns.length === 0 && d.occurrences.length === 0}
      emptyText="No campaign sent anything in this range."
    >
      {(d) => <CampaignsBody d={d} path={path} query={query!} span={span} />}
    </Section>
  );
}

function countCols<R extends Schemas["AnalyticsCampaignCounts"]>(): Column<R>[] {
  return [
    { label: "Audience", num: true, cell: (r) => fmt.int(r.audience) },
    { label: "Sent", num: true, cell: (r) => fmt.int(r.sent) },
    { label: "Held", num: true, cell: (r) => fmt.int(r.held) },
    { label: "Skipped", num: true, cell: (r) => fmt.int(r.skipped) },
    { label: "Delivered", num: true, cell: (r) => fmt.int(r.delivered) },
    { label: "Read", num: true, cell: (r) => fmt.int(r.read) },
    { label: "Replied in 24 h", num: true, cell: (r) => fmt.int(r.replied_24h) },
    { label: "Opted out after", num: true, cell: (r) => fmt.int(r.opted_out_after) },
    { label: "Failed", num: true, cell: (r) => fmt.int(r.failed) },
  ];
}

function CampaignsBody({ d, path, query, span }: { d: Campaigns; path: string; query: Query; span: string }) {
  const chart: ChartSpec = useMemo(
    () => ({
      kind: "bar",
      labels: d.campaigns.map((c) => c.campaign_name),
      series: [
        { label: "Sent", data: d.campaigns.map((c) => c.sent) },
        { label: "Delivered", data: d.campaigns.map((c) => c.delivered) },
        { label: "Read", data: d.campaigns.map((c) => c.read) },
        { label: "Replied in 24 h", data: d.campaigns.map((c) => c.replied_24h) },
        { label: "Failed", data: d.campaigns.map((c) => c.failed) },
      ],
    }),
    [d],
  );
  const campaignCols: Column<CampaignRow>[] = [
    { label: "Campaign", cell: (c) => c.campaign_name },
    { label: "Sends", num: true, cell: (c) => fmt.int(c.occurrences) },
    ...countCols<CampaignRow>(),
  ];
  const occCols: Column<OccurrenceRow>[] = [
    {
      label: "Send",
      cell: (o) => (
        <>
          {o.campaign_name}
          <span className="doc-sub">
            <time dateTime={o.scheduled_at}>{new Date(o.scheduled_at).toLocaleString()}</time>
          </span>
        </>
      ),
    },
    ...countCols<OccurrenceRow>(),
    { label: "Skipped by reason", cell: (o) => fmt.counts(o.skipped_by_reason) },
    { label: "Failed by provider code", cell: (o) => fmt.counts(o.failed_by_code) },
  ];
  return (
    <>
      <Figure
        title="By campaign"
        chart={chart}
        table={{ columns: campaignCols, rows: d.campaigns, rowKey: (c) => c.campaign_id }}
        csv={<CsvButton path={path} query={query} table="campaigns" label="campaigns" file={csvFile("campaigns", "campaigns", span)} />}
      />
      <div className="subhead">
        <h3>Each send</h3>
        <CsvButton path={path} query={query} table="occurrences" label="campaign sends" file={csvFile("campaigns", "occurrences", span)} />
      </div>
      <DataTable caption="Each send, newest first" columns={occCols} rows={d.occurrences} rowKey={(o) => o.occurrence_id} />
    </>
  );
}

// 6. Programs
export function ProgramsSection({ query, span }: SectionProps) {
  const path = base + "programs";
  const [load, retry] = useAnalytics<Programs>(path, query);
  return (
    <Section
      id="programs"
      title="Programs"
      intro="Each drip program as a funnel: per step, how many people reached it, were sent it, replied, branched, dropped out or completed."
      load={load}
      retry={retry}
      empty={(d) => d.steps.length === 0}
      emptyText="No program step was sent in this range."
    >
      {(d) => <ProgramsBody d={d} path={path} query={query!} span={span} />}
    </Section>
  );
}

function ProgramsBody({ d, path, query, span }: { d: Programs; path: string; query: Query; span: string }) {
  const programs = useMemo(() => {
    const m = new Map<string, { name: string; steps: StepRow[] }>();
    for (const s of d.steps) {
      const p = m.get(s.program_id) ?? { name: s.program_name, steps: [] };
      p.steps.push(s);
      m.set(s.program_id, p);
    }
    return [...m.entries()].map(([id, p]) => ({ id, ...p, steps: p.steps.sort((a, b) => a.step - b.step) }));
  }, [d]);
  return (
    <>
      <div className="subhead">
        <span className="hint">{programs.length === 1 ? "1 program" : `${programs.length} programs`}</span>
        <CsvButton path={path} query={query} table="steps" label="program steps" file={csvFile("programs", "steps", span)} />
      </div>
      {programs.map((p) => (
        <ProgramFunnel key={p.id} name={p.name} steps={p.steps} />
      ))}
    </>
  );
}

function ProgramFunnel({ name, steps }: { name: string; steps: StepRow[] }) {
  const chart: ChartSpec = useMemo(
    () => ({
      kind: "bar",
      labels: steps.map((s) => `Step ${s.step + 1}`),
      series: [
        { label: "Reached", data: steps.map((s) => s.reached) },
        { label: "Sent", data: steps.map((s) => s.sent) },
        { label: "Replied", data: steps.map((s) => s.replied) },
        { label: "Dropped", data: steps.map((s) => s.dropped) },
        { label: "Completed", data: steps.map((s) => s.completed) },
      ],
    }),
    [steps],
  );
  const cols: Column<StepRow>[] = [
    { label: "Step", cell: (s) => `Step ${s.step + 1}` },
    { label: "Reached", num: true, cell: (s) => fmt.int(s.reached) },
    { label: "Sent", num: true, cell: (s) => fmt.int(s.sent) },
    { label: "Replied", num: true, cell: (s) => fmt.int(s.replied) },
    {
      label: "Branched to",
      cell: (s) =>
        fmt.counts(
          s.branched,
          Object.fromEntries(Object.keys(s.branched ?? {}).map((k) => [k, `step ${Number(k) + 1}`])),
        ),
    },
    { label: "Dropped", num: true, cell: (s) => fmt.int(s.dropped) },
    { label: "Completed", num: true, cell: (s) => fmt.int(s.completed) },
  ];
  return <Figure title={`Funnel of ${name}`} chart={chart} table={{ columns: cols, rows: steps, rowKey: (s) => String(s.step) }} />;
}

// 7. Channels
export function ChannelsSection({ query, span }: SectionProps) {
  const path = base + "channels";
  const [load, retry] = useAnalytics<Channels>(path, query);
  const week = isWeek(query);
  return (
    <Section
      id="channels"
      title="Channels"
      intro="Opt-outs and opt-ins over time, WhatsApp sends refused because the 24-hour window had closed, and provider errors."
      load={load}
      retry={retry}
      empty={(d) => d.errors.length === 0 && d.series.every((r) => r.opt_outs + r.opt_ins + r.sends + r.provider_errors === 0)}
      emptyText="Nothing was sent or received on a channel in this range."
    >
      {(d) => <ChannelsBody d={d} week={week} path={path} query={query!} span={span} />}
    </Section>
  );
}

function ChannelsBody({ d, week, path, query, span }: { d: Channels; week: boolean; path: string; query: Query; span: string }) {
  const chart: ChartSpec = useMemo(
    () => ({
      kind: "bar",
      labels: d.series.map((r) => periodLabel(r.period)),
      series: [
        { label: "Opt-ins", data: d.series.map((r) => r.opt_ins) },
        { label: "Opt-outs", data: d.series.map((r) => r.opt_outs) },
        { label: "Window closed", data: d.series.map((r) => r.window_closed) },
        { label: "Provider errors", data: d.series.map((r) => r.provider_errors) },
      ],
    }),
    [d],
  );
  const sum = (k: "opt_ins" | "opt_outs" | "sends" | "window_closed" | "provider_errors") => d.series.reduce((n, r) => n + r[k], 0);
  const cols: Column<ChannelsRow>[] = [
    periodCol(week),
    { label: "Opt-ins", num: true, cell: (r) => fmt.int(r.opt_ins) },
    { label: "Opt-outs", num: true, cell: (r) => fmt.int(r.opt_outs) },
    { label: "Sends", num: true, cell: (r) => fmt.int(r.sends) },
    { label: "Window closed", num: true, cell: (r) => fmt.int(r.window_closed) },
    { label: "Window-closed rate", num: true, cell: (r) => fmt.pct(r.window_closed_rate) },
    { label: "Provider errors", num: true, cell: (r) => fmt.int(r.provider_errors) },
  ];
  const errCols: Column<ProviderError>[] = [
    { label: "Channel", cell: (e) => e.channel },
    { label: "Code", cell: (e) => <code>{e.code}</code> },
    { label: "Errors", num: true, cell: (e) => fmt.int(e.count) },
  ];
  return (
    <>
      <Stats
        items={[
          { label: "Sends", value: fmt.int(sum("sends")) },
          { label: "Opt-ins", value: fmt.int(sum("opt_ins")) },
          { label: "Opt-outs", value: fmt.int(sum("opt_outs")) },
          { label: "Window closed", value: fmt.int(sum("window_closed")), hint: "WhatsApp" },
          { label: "Provider errors", value: fmt.int(sum("provider_errors")) },
        ]}
      />
      <Figure
        title="Opt-ins, opt-outs and refusals"
        chart={chart}
        table={{ columns: cols, rows: d.series, rowKey: (r) => r.period }}
        csv={<CsvButton path={path} query={query} table="series" label="channels" file={csvFile("channels", "series", span)} />}
      />
      <div className="subhead">
        <h3>Provider errors</h3>
        <CsvButton path={path} query={query} table="errors" label="provider errors" file={csvFile("channels", "errors", span)} />
      </div>
      {d.errors.length ? (
        <DataTable caption="Provider errors by channel and code, most first" columns={errCols} rows={d.errors} rowKey={(e) => e.channel + "/" + e.code} />
      ) : (
        <p className="hint">No provider errors in this range.</p>
      )}
    </>
  );
}

// 8. Team
export function TeamSection({ query, span }: SectionProps) {
  const path = base + "team";
  const [load, retry] = useAnalytics<Team>(path, query);
  const week = isWeek(query);
  return (
    <Section
      id="team"
      title="Team"
      intro="When you and your team took conversations over from the coach, how soon after the person wrote, and who replied."
      load={load}
      retry={retry}
      empty={(d) => d.members.length === 0 && d.series.every((r) => r.takeovers + r.member_replies === 0)}
      emptyText="No one took a conversation over or replied by hand in this range."
    >
      {(d) => <TeamBody d={d} week={week} path={path} query={query!} span={span} />}
    </Section>
  );
}

function TeamBody({ d, week, path, query, span }: { d: Team; week: boolean; path: string; query: Query; span: string }) {
  const chart: ChartSpec = useMemo(
    () => ({
      kind: "bar",
      labels: d.series.map((r) => periodLabel(r.period)),
      series: [
        { label: "Takeovers", data: d.series.map((r) => r.takeovers) },
        { label: "Replies by the team", data: d.series.map((r) => r.member_replies) },
      ],
    }),
    [d],
  );
  const takeovers = d.series.reduce((n, r) => n + r.takeovers, 0);
  const replies = d.series.reduce((n, r) => n + r.member_replies, 0);
  const cols: Column<TeamRow>[] = [
    periodCol(week),
    { label: "Takeovers", num: true, cell: (r) => fmt.int(r.takeovers) },
    { label: "Time to takeover p50", num: true, cell: (r) => fmt.s(r.time_to_takeover_p50_s) },
    { label: "Time to takeover p95", num: true, cell: (r) => fmt.s(r.time_to_takeover_p95_s) },
    { label: "Replies by the team", num: true, cell: (r) => fmt.int(r.member_replies) },
  ];
  const memberCols: Column<Member>[] = [
    { label: "Member", cell: (m) => m.name || (m.user_id ? `Member ${m.user_id.slice(0, 8)}` : "Before the team, or an API key") },
    { label: "Takeovers", num: true, cell: (m) => fmt.int(m.takeovers) },
    { label: "Replies", num: true, cell: (m) => fmt.int(m.replies) },
  ];
  return (
    <>
      <Stats
        items={[
          { label: "Takeovers", value: fmt.int(takeovers) },
          { label: "Replies by the team", value: fmt.int(replies) },
        ]}
      />
      <Figure
        title="Takeovers and replies by the team"
        chart={chart}
        table={{ columns: cols, rows: d.series, rowKey: (r) => r.period }}
        csv={<CsvButton path={path} query={query} table="series" label="team" file={csvFile("team", "series", span)} />}
      />
      <div className="subhead">
        <h3>By member</h3>
        <CsvButton path={path} query={query} table="members" label="team members" file={csvFile("team", "members", span)} />
      </div>
      {d.members.length ? (
        <DataTable caption="Takeovers and replies by member" columns={memberCols} rows={d.members} rowKey={(m, i) => m.user_id + i} />
      ) : (
        <p className="hint">No replies by a team member in this range.</p>
      )}
    </>
  );
}
