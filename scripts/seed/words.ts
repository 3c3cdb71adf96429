// The vocabulary of the demo data: names, titles, subjects and notes the
// seed's SQL picks from. Single words only in the name lists (they also form
// e-mail domains); no quotes anywhere, so they embed in SQL literals as they are.

export const FIRST = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Carlos', 'Karen', 'Daniel', 'Lisa', 'Matthew', 'Nancy', 'Anthony', 'Sofia', 'Mark', 'Priya', 'Wei', 'Emily', 'Ahmed', 'Olivia', 'Kenji', 'Fatima', 'Lucas', 'Chloe', 'Mateo', 'Hannah', 'Ivan', 'Aisha', 'Noah', 'Grace', 'Omar', 'Elena', 'Ravi', 'Mia', 'Jonas', 'Laura', 'Diego', 'Nora']
export const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Thompson', 'White', 'Harris', 'Clark', 'Lewis', 'Walker', 'Hall', 'Young', 'King', 'Wright', 'Nguyen', 'Patel', 'Kim', 'Chen', 'Schmidt', 'Muller', 'Rossi', 'Silva', 'Kowalski', 'Novak', 'Tanaka', 'Sato', 'Singh', 'Khan', 'Okafor', 'Haddad', 'Larsen', 'Dubois', 'Fischer', 'Murphy']
export const ORG_PREFIX = ['Summit', 'Pioneer', 'Redwood', 'Northwind', 'Apex', 'Harbor', 'Bluestone', 'Evergreen', 'Ironclad', 'Silverline', 'Brightpath', 'Cobalt', 'Crescent', 'Granite', 'Horizon', 'Keystone', 'Lakeside', 'Meridian', 'Oakridge', 'Pinnacle', 'Quantum', 'Riverbend', 'Sterling', 'Trident', 'Vertex', 'Westfield', 'Zenith', 'Atlas', 'Beacon', 'Cascade', 'Delta', 'Falcon', 'Global', 'Highland', 'Liberty', 'Nova', 'Orion', 'Pacific', 'Sapphire', 'United', 'Anderson', 'Baker', 'Carter', 'Fletcher', 'Hayes', 'Morrison', 'Porter', 'Sullivan', 'Turner', 'Whitaker']
// Noun and the industry segment it implies, index for index.
export const ORG_NOUN = ['Logistics', 'Freight', 'Foods', 'Organics', 'Health', 'Clinics', 'Pharma', 'Software', 'Analytics', 'Systems', 'Networks', 'Capital', 'Insurance', 'Energy', 'Solar', 'Robotics', 'Manufacturing', 'Textiles', 'Realty', 'Construction', 'Media', 'Studios', 'Retail', 'Outfitters', 'Education', 'Consulting', 'Legal', 'Telecom', 'Hospitality', 'Motors']
export const ORG_INDUSTRY = ['Transportation', 'Transportation', 'Food & Beverage', 'Food & Beverage', 'Healthcare', 'Healthcare', 'Pharmaceuticals', 'Technology', 'Technology', 'Technology', 'Telecommunications', 'Financial Services', 'Insurance', 'Energy', 'Energy', 'Manufacturing', 'Manufacturing', 'Manufacturing', 'Real Estate', 'Construction', 'Media & Entertainment', 'Media & Entertainment', 'Retail', 'Retail', 'Education', 'Professional Services', 'Professional Services', 'Telecommunications', 'Hospitality', 'Automotive']
export const LEGAL = ['Inc', 'LLC', 'Ltd', 'Corp', 'Group', 'GmbH', 'Co', 'Partners', 'Holdings', 'PLC']
export const TLD = ['com', 'com', 'com', 'com', 'io', 'co', 'net', 'org', 'de', 'co.uk']
export const MAILBOX = ['info', 'contact', 'hello', 'sales', 'office']
export const TITLES = ['CEO', 'CFO', 'CTO', 'COO', 'VP of Sales', 'VP of Engineering', 'Head of Procurement', 'Purchasing Manager', 'Operations Manager', 'IT Director', 'Marketing Director', 'Account Manager', 'Office Manager', 'Product Manager', 'Software Engineer', 'Finance Manager', 'HR Business Partner', 'Legal Counsel']
// Five subjects per interaction type, in enum order: call, email, meeting, note.
export const SUBJECTS = [
  'Discovery call', 'Follow-up call', 'Pricing discussion', 'Quarterly check-in call', 'Support escalation call',
  'Intro email', 'Sent proposal', 'Re: contract terms', 'Follow-up on demo', 'Renewal reminder',
  'Product demo', 'On-site visit', 'Executive briefing', 'Quarterly business review', 'Kickoff meeting',
  'Budget approved for next quarter', 'Champion changed roles', 'Evaluating competitors', 'Requested security review', 'Procurement process started'
]
export const NOTES = ['Customer is happy with onboarding so far.', 'Asked for a discount on a multi-year term.', 'Needs sign-off from their CFO before proceeding.', 'Interested in the analytics add-on.', 'Raised concerns about data residency.', 'Wants a reference customer in their industry.', 'Left a voicemail, will try again next week.', 'Shared the updated pricing sheet.', 'Legal review of the MSA is in progress.', 'Competitor offered a lower price; we compete on support.']
export const DEAL_KIND = ['New Business', 'Annual Renewal', 'Platform Expansion', 'Pilot Project', 'Upsell: Analytics', 'Multi-year Contract', 'Professional Services', 'Seat Expansion', 'Support Upgrade', 'Migration Project']
export const STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed-won', 'closed-lost']
