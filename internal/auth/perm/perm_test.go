package perm

import (
	"slices"
	"testing"
)

func TestGrants(t *testing.T) {
	t.Parallel()
	for _, p := range All {
		if !(Grant{Role: Owner}).Allows(p) {
			t.Errorf("owner lacks %s", p)
		}
		if got := (Grant{Role: Admin}).Allows(p); got != (p != OwnershipTransfer) {
			t.Errorf("admin %s: %v", p, got)
		}
	}
	for _, r := range []Role{Editor, Viewer} {
		if (Grant{Role: r}).Allows(ContentRead) || !(Grant{Role: r, ReadContent: true}).Allows(ContentRead) {
			t.Errorf("%s: message content must follow the grant", r)
		}
		if (Grant{Role: r}).Allows(KeysManage) || (Grant{Role: r}).Allows(TeamWrite) || (Grant{Role: r}).Allows(SettingsWrite) {
			t.Errorf("%s manages the workspace", r)
		}
	}
	if (Grant{Role: Viewer}).Allows(KnowledgeWrite) || !(Grant{Role: Editor}).Allows(KnowledgeWrite) {
		t.Error("knowledge write: editor yes, viewer no")
	}
	agent := Grant{Role: Agent}
	for _, p := range []Perm{InboxRead, ContentRead, InboxWrite, MemoryWrite} {
		if !agent.Allows(p) {
			t.Errorf("agent lacks %s", p)
		}
	}
	for _, r := range []Role{Editor, Agent, Viewer} {
		if (Grant{Role: r, ReadContent: true}).Allows(WorkspaceExport) {
			t.Errorf("%s exports the workspace", r)
		}
	}
	for _, p := range []Perm{SettingsRead, SettingsWrite, KnowledgeWrite, TeamWrite, KeysManage, CampaignsWrite, EndUsersExport, EndUsersDelete} {
		if agent.Allows(p) {
			t.Errorf("agent has %s", p)
		}
	}
	for _, r := range []Role{Editor, Viewer} {
		if (Grant{Role: r, ReadContent: true}).Allows(EndUsersExport) || (Grant{Role: r}).Allows(EndUsersDelete) {
			t.Errorf("%s exports or deletes end users", r)
		}
	}
	// The audit log: owners and admins (and their API keys), nobody else.
	for _, r := range Roles {
		want := r == Owner || r == Admin
		if got := (Grant{Role: r, ReadContent: true}).Allows(AuditRead); got != want {
			t.Errorf("%s audit.read: %v, want %v", r, got, want)
		}
	}
	// Unknown roles get nothing, even with the content grant.
	if (Grant{Role: "root", ReadContent: true}).Allows(ContentRead) || len((Grant{Role: ""}).Perms()) != 0 {
		t.Error("an unknown role holds permissions")
	}
	if !slices.Equal((Grant{Role: Owner}).Perms(), All) || Role("boss").Valid() || !Viewer.Valid() {
		t.Error("Perms or Valid")
	}
}
