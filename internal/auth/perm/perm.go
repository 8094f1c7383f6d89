// Package perm names the roles of a workspace's members and API keys, the permissions a REST
// route can require, and which role holds which permission. It is a pure table: the gateway
// declares one permission per route and checks it in one middleware, on top of row-level
// security (which keeps isolating workspaces).
package perm

import "slices"

// Role is a member's (or an API key's) role in a workspace.
type Role string

// The roles, most powerful first.
const (
	// Owner can do everything, including transferring ownership. Each workspace has one.
	Owner Role = "owner"
	// Admin can do everything but transfer ownership.
	Admin Role = "admin"
	// Editor manages knowledge, the coach (widget) settings, campaigns and programs, and reads
	// the rest as a viewer does.
	Editor Role = "editor"
	// Agent works the inbox: reads conversations and their messages, takes over, replies,
	// releases, tags, and edits a person's memory. No settings, no exports, no deletion of end
	// users.
	Agent Role = "agent"
	// Viewer reads; end users' message content (messages, memory, the live transcript) only when
	// the member was granted it.
	Viewer Role = "viewer"
)

// Roles lists every role, most powerful first.
var Roles = []Role{Owner, Admin, Editor, Agent, Viewer}

// Valid reports whether r is a role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Perm is what a route requires.
type Perm string

// The permissions. Read permissions never cover end users' message content: that is
// ContentRead.
const (
	// AccountRead: the signed-in identity itself (me, workspaces, switch). Every role.
	AccountRead Perm = "account.read"
	// KnowledgeRead / KnowledgeWrite: documents.
	KnowledgeRead  Perm = "knowledge.read"
	KnowledgeWrite Perm = "knowledge.write"
	// CoachRead / CoachWrite: the coach and widget settings.
	CoachRead  Perm = "coach.read"
	CoachWrite Perm = "coach.write"
	// SettingsRead / SettingsWrite: channels and the send policy.
	SettingsRead  Perm = "settings.read"
	SettingsWrite Perm = "settings.write"
	// InboxRead: conversations and end users (who, where, status, tags), not what they said.
	InboxRead Perm = "inbox.read"
	// ContentRead: end users' message content: transcripts, the live stream, memory profiles.
	ContentRead Perm = "content.read"
	// InboxWrite: take over, reply, release, tag.
	InboxWrite Perm = "inbox.write"
	// MemoryWrite: edit or erase a person's memory profile.
	MemoryWrite Perm = "memory.write"
	// CampaignsRead / CampaignsWrite, ProgramsRead / ProgramsWrite: proactive coaching.
	CampaignsRead  Perm = "campaigns.read"
	CampaignsWrite Perm = "campaigns.write"
	ProgramsRead   Perm = "programs.read"
	ProgramsWrite  Perm = "programs.write"
	// AnalyticsRead: the analytics dashboard's figures (aggregates); the text of knowledge-gap
	// questions in it also needs ContentRead.
	AnalyticsRead Perm = "analytics.read"
	// TeamRead / TeamWrite: members and invitations.
	TeamRead  Perm = "team.read"
	TeamWrite Perm = "team.write"
	// KeysManage: list, create and revoke API keys.
	KeysManage Perm = "keys.manage"
	// OwnershipTransfer: hand the workspace to another member.
	OwnershipTransfer Perm = "ownership.transfer"
	// WorkspaceExport: download the whole workspace's data (GET /api/v1/export): owners and
	// admins only.
	WorkspaceExport Perm = "workspace.export"
	// EndUsersExport: export everything kept about one end user (messages, memory, tags,
	// consents). EndUsersDelete: delete an end user and all of it for good. Owner and admin only:
	// an agent works the inbox but takes no data out and erases no one.
	EndUsersExport Perm = "end_users.export"
	EndUsersDelete Perm = "end_users.delete"
	// AuditRead: the workspace's audit log (who changed what, from which address), as JSON or
	// CSV. Owners and admins.
	AuditRead Perm = "audit.read"
)

// All lists every permission.
var All = []Perm{AccountRead, KnowledgeRead, KnowledgeWrite, CoachRead, CoachWrite, SettingsRead, SettingsWrite,
	InboxRead, ContentRead, InboxWrite, MemoryWrite, CampaignsRead, CampaignsWrite, ProgramsRead, ProgramsWrite,
	AnalyticsRead, TeamRead, TeamWrite, KeysManage, OwnershipTransfer, WorkspaceExport, EndUsersExport, EndUsersDelete, AuditRead}

// reads are what every role but agent reads.
var reads = []Perm{AccountRead, KnowledgeRead, CoachRead, SettingsRead, InboxRead, CampaignsRead, ProgramsRead, AnalyticsRead, TeamRead}

var grants = map[Role][]Perm{
	Owner:  All,
	Admin:  slices.DeleteFunc(slices.Clone(All), func(p Perm) bool { return p == OwnershipTransfer }),
	Editor: append(slices.Clone(reads), KnowledgeWrite, CoachWrite, CampaignsWrite, ProgramsWrite),
	Agent:  {AccountRead, InboxRead, ContentRead, InboxWrite, MemoryWrite},
	Viewer: reads,
}

// PersonOnly are the permissions no API key holds, whatever its role: managing the team, the
// keys and ownership. A leaked key cannot mint more keys or invite anyone, and a key outliving
// the member who made it grants no say over who else gets in.
var PersonOnly = []Perm{TeamWrite, KeysManage, OwnershipTransfer}

// Grant is what one principal holds in a workspace: its role, for the roles that do not always
// read message content (editor, viewer) whether it was granted that, and whether it is an API
// key.
type Grant struct {
	Role        Role
	ReadContent bool
	Key         bool
}

// Allows reports whether the grant covers p.
func (g Grant) Allows(p Perm) bool {
	if g.Key && slices.Contains(PersonOnly, p) {
		return false
	}
	if p == ContentRead && g.ReadContent && g.Role.Valid() {
		return true
	}
	return slices.Contains(grants[g.Role], p)
}

// Perms lists the permissions a grant holds, in the order of All.
func (g Grant) Perms() []Perm {
	out := []Perm{}
	for _, p := range All {
		if g.Allows(p) {
			out = append(out, p)
		}
	}
	return out
}
